(function () {
  var maps = document.querySelectorAll(".heatmap");
  Array.prototype.forEach.call(maps, function (hm) {
    var out = hm.querySelector(".hm-readout");
    var lit = [];
    function clear() { lit.forEach(function (el) { el.classList.remove("hl"); }); lit = []; }
    function show(td) {
      clear();
      out.textContent = td.getAttribute("data-tip").replace(/\n/g, " \u00b7 ");
      var r = hm.querySelector('th.rowh[data-r="' + td.getAttribute("data-r") + '"]');
      var c = hm.querySelector('th.colh[data-c="' + td.getAttribute("data-c") + '"]');
      [r, c].forEach(function (el) { if (el) { el.classList.add("hl"); lit.push(el); } });
    }
    Array.prototype.forEach.call(hm.querySelectorAll("td.cell"), function (td) {
      td.addEventListener("mouseenter", function () { show(td); });
      td.addEventListener("focus", function () { show(td); });
    });
  });
  document.body.dataset.ready = "1";
})();
