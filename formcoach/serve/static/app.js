// formcoach workspace: a click on a rep, a fault or a bar (anything with class "seek" and a
// data-t in seconds), or on the joint-angle plot (the time under the pointer), moves the video
// of its pane (or the page's #video) to that moment.
"use strict";
(function () {
  function videoFor(el) {
    var pane = el.closest(".pane");
    if (pane) { return pane.querySelector("video"); }
    return document.getElementById("video");
  }
  function clock(t) {
    var m = Math.floor(t / 60), s = t - 60 * m;
    return m + ":" + (s < 10 ? "0" : "") + s.toFixed(1);
  }
  function seek(el) {
    var t = parseFloat(el.getAttribute("data-t"));
    var v = videoFor(el);
    if (!v || !isFinite(t)) { return; }
    v.pause();
    v.currentTime = Math.max(0, t);
    document.querySelectorAll(".seek.active").forEach(function (x) { x.classList.remove("active"); });
    el.classList.add("active");
  }
  // The angle plot (svg.angles): the time under the pointer, from the plot's x span
  // (data-x0..data-x1, viewBox units) and time span (data-t0..data-t1, s).
  function plotTime(svg, clientX) {
    var r = svg.getBoundingClientRect(), vb = svg.viewBox.baseVal;
    var x0 = parseFloat(svg.getAttribute("data-x0")), x1 = parseFloat(svg.getAttribute("data-x1"));
    var t0 = parseFloat(svg.getAttribute("data-t0")), t1 = parseFloat(svg.getAttribute("data-t1"));
    if (!r.width || !(x1 > x0) || !isFinite(t0) || !isFinite(t1)) { return NaN; }
    var x = (clientX - r.left) * vb.width / r.width;
    var t = t0 + (x - x0) / (x1 - x0) * (t1 - t0);
    return Math.min(t1, Math.max(t0, t));
  }
  function moveCursor(svg, t) {
    var line = svg.querySelector("#angle-cursor");
    var x0 = parseFloat(svg.getAttribute("data-x0")), x1 = parseFloat(svg.getAttribute("data-x1"));
    var t0 = parseFloat(svg.getAttribute("data-t0")), t1 = parseFloat(svg.getAttribute("data-t1"));
    if (!line || !(t1 > t0)) { return; }
    var x = x0 + (x1 - x0) * (Math.min(t1, Math.max(t0, t)) - t0) / (t1 - t0);
    line.setAttribute("x1", x.toFixed(1));
    line.setAttribute("x2", x.toFixed(1));
  }
  document.addEventListener("click", function (e) {
    var el = e.target.closest ? e.target.closest(".seek") : null;
    if (el) { seek(el); return; }
    var svg = e.target.closest ? e.target.closest("svg.angles") : null;
    if (svg) {
      var t = plotTime(svg, e.clientX);
      if (isFinite(t)) {
        svg.setAttribute("data-t", t.toFixed(3));
        seek(svg);
      }
    }
  });
  document.addEventListener("keydown", function (e) {
    if ((e.key === "Enter" || e.key === " ") && e.target.classList && e.target.classList.contains("seek")) {
      e.preventDefault();
      seek(e.target);
    }
  });
  // The import sends the file's own time (the upload's copy would be dated now).
  var file = document.querySelector("#import input[type=file]");
  var last = document.getElementById("last-modified");
  if (file && last) {
    file.addEventListener("change", function () {
      last.value = file.files.length ? String(file.files[0].lastModified) : "";
    });
  }
  var v = document.getElementById("video"), now = document.getElementById("now");
  if (v && now) {
    var plot = document.getElementById("angles");
    var show = function () {
      now.textContent = clock(v.currentTime);
      if (plot) { moveCursor(plot, v.currentTime); }
    };
    v.addEventListener("timeupdate", show);
    v.addEventListener("seeked", show);
  }
})();
