// Log stream: appends each line the server sends to the page. EventSource reconnects by itself
// and sends the id of the last line it got (Last-Event-ID), so the server resumes right after it.
(function () {
  "use strict";
  var pre = document.getElementById("log");
  var status = document.getElementById("log-status");
  if (!pre || !window.EventSource) { return; }
  var lines = 0, reconnects = 0, opened = false;
  var es = new EventSource(pre.getAttribute("data-events"));
  es.onopen = function () {
    if (opened) { reconnects++; pre.setAttribute("data-reconnects", String(reconnects)); }
    opened = true;
    status.textContent = "Connected";
  };
  es.onmessage = function (e) {
    var stick = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
    pre.appendChild(document.createTextNode(e.data + "\n"));
    lines++;
    pre.setAttribute("data-lines", String(lines));
    if (stick) { pre.scrollTop = pre.scrollHeight; }
  };
  // A note from the server (the node's agent has not answered yet, or does not run the app).
  es.addEventListener("status", function (e) { status.textContent = e.data; });
  es.onerror = function () { status.textContent = "Reconnecting…"; };
})();
