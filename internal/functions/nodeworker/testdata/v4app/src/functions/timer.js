const { app } = require('@azure/functions');

app.timer('tick', {
  schedule: '0 */5 * * * *',
  handler: (myTimer, context) => {
    context.log(`isPastDue=${myTimer.isPastDue} adjustForDST=${myTimer.schedule.adjustForDST}`);
  },
});
