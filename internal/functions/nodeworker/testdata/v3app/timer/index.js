module.exports = async function (context, myTimer) {
  context.log(`isPastDue=${myTimer.isPastDue} adjustForDST=${myTimer.schedule.adjustForDST} method=${context.bindingData.sys.methodName}`);
};
