// Shiftwire's pages: the live board (a WebSocket notice for this staff member's facilities
// re-renders the board from the server). No inline script: the
// pages' CSP allows scripts from this origin only.
(function () {
  "use strict";

  // Notices after which a board is out of date.
  var LIVE = [
    "shift.booked", "shift.released", "handoff.acknowledged", "shift.unfilled",
    "shift.updated", "booking.updated", "booking.on_the_way", "booking.no_show",
  ];
  var opened = 0;

  function refresh() {
    var board = document.querySelector("[data-live-refresh]");
    if (board && window.htmx) {
      window.htmx.trigger(board, "shiftwire:refresh");
    }
  }

  function status(text) {
    var line = document.getElementById("live-status");
    if (line) {
      line.textContent = text;
    }
  }

  // Frames are JSON, not HTML: handle them here and keep htmx from swapping them in.
  document.addEventListener("htmx:wsBeforeMessage", function (event) {
    event.preventDefault();
    var frame;
    try {
      frame = JSON.parse(event.detail.message);
    } catch (e) {
      return;
    }
    if (frame && LIVE.indexOf(frame.type) >= 0) {
      refresh();
    }
  });

  document.addEventListener("htmx:wsOpen", function () {
    status("Live: changes appear as they happen.");
    // After a reconnect, notices may have been missed: read the board again.
    if (opened++ > 0) {
      refresh();
    }
  });

  document.addEventListener("htmx:wsClose", function () {
    status("Reconnecting… the board may be out of date.");
  });
})();
