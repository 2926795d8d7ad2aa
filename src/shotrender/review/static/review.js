// The review page: reads /api/episode, posts to /api/decisions. Every text it shows is set with
// textContent (never innerHTML), so a note or a prompt is shown as written, never run.
(function () {
  "use strict";
  var token = new URLSearchParams(location.search).get("token") || "";
  var data = null, byId = {}, current = null, order = "place", formKind = null;
  var drag = null;  // the region being drawn on the cut's picture: its first corner, in picture pixels
  var SLUG = {"approved": "approved", "retake": "retake", "waiting for review": "waiting", "not rendered": "none"};

  function $(id) { return document.getElementById(id); }
  function url(path) { return path + (path.indexOf("?") < 0 ? "?" : "&") + "token=" + encodeURIComponent(token); }
  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function cutUrl(kind, id, what) { return url("/" + kind + "/" + encodeURIComponent(id) + "/" + what); }

  // the order the keys walk: place by place, or the shot list's
  function walk() {
    if (order === "cut") return data.cuts.map(function (c) { return c.id; });
    return [].concat.apply([], data.places.map(function (p) { return p.cuts; }));
  }

  function load() {
    return fetch(url("/api/episode")).then(function (r) {
      return r.json().then(function (j) { if (!r.ok) throw new Error(j.error || r.status); return j; });
    }).then(function (d) {
      data = d; byId = {};
      d.cuts.forEach(function (c) { byId[c.id] = c; });
      var wanted = decodeURIComponent(location.hash.slice(1));
      if (!byId[current]) current = byId[wanted] ? wanted : (d.cuts.length ? d.cuts[0].id : null);
      if (!$("reviewer").value) $("reviewer").value = localStorage.getItem("shotrender.reviewer") || d.reviewer;
      draw();
      document.body.setAttribute("data-ready", "1");
    }).catch(function (e) { $("error").textContent = "cannot load the episode: " + e.message; });
  }

  function draw() {
    $("episode").textContent = data.episode;
    document.title = data.episode + " — shotrender review";
    var counts = {};
    data.cuts.forEach(function (c) { counts[c.state] = (counts[c.state] || 0) + 1; });
    clear($("counts"));
    Object.keys(SLUG).forEach(function (s) {
      if (!counts[s]) return;
      var span = el("span", "count"); span.setAttribute("data-state", SLUG[s]);
      span.appendChild(el("span", "dot")); span.appendChild(document.createTextNode(" " + counts[s] + " " + s));
      $("counts").appendChild(span);
    });
    drawList();
    drawCut();
  }

  function drawList() {
    var list = $("cut-list");
    clear(list);
    function item(id) {
      var c = byId[id], li = el("li"), b = el("button");
      b.type = "button"; b.setAttribute("data-cut", id); b.setAttribute("data-state", SLUG[c.state]);
      b.title = c.state;
      if (id === current) b.className = "current";
      b.appendChild(el("span", "", id)); b.appendChild(el("span", "dot"));
      b.addEventListener("click", function () { select(id); });
      li.appendChild(b); list.appendChild(li);
    }
    if (order === "cut") data.cuts.forEach(function (c) { item(c.id); });
    else data.places.forEach(function (p) { list.appendChild(el("li", "place", p.name)); p.cuts.forEach(item); });
    $("by-place").setAttribute("aria-pressed", String(order === "place"));
    $("by-cut").setAttribute("aria-pressed", String(order === "cut"));
  }

  function frame(c, src, label, cls) {
    var fig = el("figure", cls || ""), box = el("div", "frame");
    box.style.aspectRatio = data.size[0] + " / " + data.size[1];
    if (src) {
      var img = el("img", "render"); img.src = src; img.alt = label; box.appendChild(img);
    } else {
      box.appendChild(el("div", "none", "not rendered"));
    }
    if (c && c.layout) {
      var lay = el("img", "layout"); lay.src = cutUrl("picture", c.id, "layout"); lay.alt = c.id + " layout";
      box.appendChild(lay);
    }
    fig.appendChild(box); fig.appendChild(el("figcaption", "", label));
    return fig;
  }

  function neighbours(c) {
    var place = data.places.filter(function (p) { return p.name === c.place; })[0];
    var i = place.cuts.indexOf(c.id);
    return [place.cuts[i - 1], place.cuts[i + 1]];
  }

  function drawCut() {
    var c = byId[current];
    if (!c) return;
    if (location.hash.slice(1) !== encodeURIComponent(c.id)) history.replaceState(null, "", "#" + encodeURIComponent(c.id));
    $("cut-title").textContent = c.id;
    $("cut-state").textContent = c.place_changed ? data.place_changed : c.state;
    $("cut-state").setAttribute("data-state", SLUG[c.state]);
    $("cut-meta").textContent = c.place + (c.seed !== null && c.seed !== undefined ? " · seed " + c.seed : "")
      + (c.takes.length ? " · take " + takeOf(c, c.picture) + " of " + c.takes.length : "");
    var strip = $("strip"), near = neighbours(c);
    clear(strip);
    [near[0], c.id, near[1]].forEach(function (id, k) {
      if (!id) { strip.appendChild(el("div", "empty")); return; }
      var n = byId[id];
      var label = k === 1 ? id + " (this cut)" : (k === 0 ? "before: " : "after: ") + id + " · " + n.state;
      strip.appendChild(frame(n, n.picture ? cutUrl("picture", id, "render") + "&v=" + n.picture.slice(0, 12) : null,
                              label, k === 1 ? "me" : ""));
    });
    if (c.picture && !c.reuse) drawable(strip.querySelector(".me .frame"));
    $("prompt").textContent = c.prompt || "";
    var check = $("check");
    clear(check);
    Object.keys(c.check).forEach(function (k) {
      var d = el("div", k === "flagged" && c.check[k] ? "over" : "");
      var v = c.check[k];
      d.appendChild(el("dt", "", k)); d.appendChild(el("dd", "", typeof v === "number" ? +v.toFixed(4) : v));
      check.appendChild(d);
    });
    if (!Object.keys(c.check).length) check.appendChild(el("div", "muted", "no continuity check for this picture"));
    drawTakes(c);
    drawHistory(c);
    var can = !!c.picture;
    $("approve").disabled = $("retake").disabled = $("comment").disabled = !can;
    // a reused cut's picture is its source's, and follows it: decided on there, so no buttons here
    ["approve", "retake", "comment"].forEach(function (id) { $(id).hidden = !!c.reuse; });
    $("undecidable").hidden = !c.reuse;
    $("undecidable").textContent = c.reuse ? c.id + " reuses " + c.reuse + ": its picture is " + c.reuse
      + "'s, and follows it; decide on " + c.reuse : "";
  }

  // A region retake: a rectangle dragged on the cut's picture, kept in #region as x,y,w,h in its pixels.
  function regionOf(text) {
    var m = /^\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*$/.exec(text || "");
    return m ? m.slice(1).map(Number) : null;
  }

  function showRegion() {
    var box = document.querySelector(".strip .me .frame");
    if (!box) return;
    var old = box.querySelector(".region");
    if (old) box.removeChild(old);
    var r = formKind === "retake" && $("scope").value === "region" ? regionOf($("region").value) : null;
    if (!r) return;
    box.appendChild(regionBox(r));
  }

  function regionBox(r) {
    var d = el("div", "region");
    d.style.left = 100 * r[0] / data.size[0] + "%"; d.style.top = 100 * r[1] / data.size[1] + "%";
    d.style.width = 100 * r[2] / data.size[0] + "%"; d.style.height = 100 * r[3] / data.size[1] + "%";
    return d;
  }

  function drawable(box) {
    function at(e) {
      var r = box.querySelector("img.render").getBoundingClientRect();
      return [Math.round(Math.max(0, Math.min(1, (e.clientX - r.left) / r.width)) * data.size[0]),
              Math.round(Math.max(0, Math.min(1, (e.clientY - r.top) / r.height)) * data.size[1])];
    }
    function update(e) {
      var p = at(e), x = Math.min(p[0], drag[0]), y = Math.min(p[1], drag[1]);
      $("region").value = [x, y, Math.abs(p[0] - drag[0]), Math.abs(p[1] - drag[1])].join(",");
      showRegion();
    }
    box.addEventListener("pointerdown", function (e) {
      if (e.button !== 0) return;
      if (formKind !== "retake") openForm("retake");
      $("scope").value = "region"; scopeChanged();
      drag = at(e);
      box.setPointerCapture(e.pointerId);
      e.preventDefault();
    });
    box.addEventListener("pointermove", function (e) { if (drag) update(e); });
    box.addEventListener("pointerup", function (e) {
      if (!drag) return;
      update(e); drag = null;
      var r = regionOf($("region").value);
      if (r && (r[2] < 2 || r[3] < 2)) { $("region").value = ""; showRegion(); }  // a click, not a region
      $("note").focus();
    });
  }

  function scopeChanged() {
    var region = $("scope").value === "region";
    $("region-label").hidden = !region;
    $("strength").disabled = region;  // a region is painted again whole
    $("paint4").disabled = $("scope").value !== "cut";  // candidates are a cut's
    document.body.classList.toggle("drawing", region && formKind === "retake");
    showRegion();
  }

  function takeOf(c, sha) {
    var t = c.takes.filter(function (t) { return t.picture === sha; })[0];
    return t ? t.take : "?";
  }

  function drawTakes(c) {
    var box = $("takes");
    clear(box);
    if (!c.takes.length) { box.appendChild(el("p", "muted", "no takes kept yet")); return; }
    c.takes.forEach(function (t) {
      var mine = t.picture === c.picture;
      // a candidate of the retake the current picture answered: the director picks one of them
      var candidate = t.candidate && c.candidates && t.candidate.of === c.candidates.of ? t.candidate : null;
      var fig = frame(c, cutUrl("take", c.id, t.take), "take " + t.take + (t.seed !== undefined ? " · seed " + t.seed : "")
                      + (candidate ? " · candidate " + candidate.number + " of " + candidate.count : "")
                      + (mine ? " · current" : ""), "take" + (mine ? " current" : ""));
      fig.setAttribute("data-take", t.take);
      c.decisions.filter(function (d) { return d.picture === t.picture && d.kind !== "comment"; }).forEach(function (d) {
        fig.appendChild(el("p", "said", d.kind + " by " + d.reviewer + (d.note ? ": " + d.note : "")));
        // the region a region retake of this take asked to paint again, outlined where it was drawn
        if (d.changes.region) fig.querySelector(".frame").appendChild(regionBox(d.changes.region));
      });
      if (candidate && !mine) {
        var pick = el("button", "pick", "pick this one");
        pick.type = "button";
        pick.addEventListener("click", function () { post("approve", "", {}, t); });
        fig.appendChild(pick);
      } else if (!mine && t.seed !== undefined && t.seed !== null) {  // the current take's seed would paint it again
        var b = el("button", "", "retake with this seed");
        b.type = "button";
        b.addEventListener("click", function () {  // its seed and strength: the way back to its look
          openForm("retake"); $("seed").value = t.seed;
          if (t.strength !== undefined && t.strength !== null) $("strength").value = t.strength;
        });
        fig.appendChild(b);
      }
      box.appendChild(fig);
    });
  }

  function drawHistory(c) {
    var list = $("history");
    clear(list);
    if (!c.decisions.length) { list.appendChild(el("li", "muted", "none yet")); return; }
    c.decisions.slice().reverse().forEach(function (d) {
      var li = el("li");
      li.setAttribute("data-kind", d.kind);
      li.appendChild(el("span", "kind k-" + d.kind, d.kind));
      li.appendChild(document.createTextNode(" · take " + (d.take || "?") + " · " + d.reviewer + " · " + d.time + " "));
      if (d.note) li.appendChild(el("span", "text", d.note));
      var ch = Object.keys(d.changes).map(function (k) { return k + " " + d.changes[k]; }).join(", ");
      if (ch) li.appendChild(el("span", "muted", " (" + ch + ")"));
      list.appendChild(li);
    });
  }

  function select(id) {
    current = id;
    closeForm();
    drawList();
    drawCut();
  }

  function move(step) {
    var ids = walk(), i = ids.indexOf(current);
    if (i + step >= 0 && i + step < ids.length) select(ids[i + step]);
  }

  function reviewer() {
    var name = $("reviewer").value.trim();
    if (name) localStorage.setItem("shotrender.reviewer", name);
    return name;
  }

  // `take`: the take decided on, when it is not the current picture (a candidate picked)
  function post(kind, note, changes, take) {
    var c = byId[current];
    $("error").textContent = "";
    if (!c || !c.picture || c.reuse) return;
    var body = {cut: c.id, kind: kind, picture: take ? take.picture : c.picture, reviewer: reviewer(),
                note: note || "", changes: changes};
    if (take) body.take = take.take;
    return fetch(url("/api/decisions"), {method: "POST", headers: {"Content-Type": "application/json"},
                                          body: JSON.stringify(body)})
      .then(function (r) {
        return r.json().then(function (j) { if (!r.ok) throw new Error(j.error || r.status); return j; });
      })
      .then(function () { closeForm(); return load(); })
      .catch(function (e) { $("error").textContent = e.message; });
  }

  function openForm(kind) {
    if (!byId[current] || !byId[current].picture || byId[current].reuse) return;
    formKind = kind;
    $("note-form").hidden = false;
    $("changes").hidden = kind !== "retake";
    $("send").textContent = kind === "retake" ? "Send retake" : "Send comment";
    scopeChanged();
    $("note").focus();
  }

  function closeForm() {
    formKind = null;
    $("note-form").hidden = true;
    $("note").value = $("seed").value = $("words").value = $("strength").value = $("region").value = "";
    $("paint4").checked = false;
    $("scope").value = "cut";
    drag = null;
    scopeChanged();
  }

  function send(e) {
    e.preventDefault();
    var changes = {};
    if (formKind === "retake") {
      var seed = $("seed").value.trim(), words = $("words").value.trim(), strength = $("strength").value.trim();
      if (seed) changes.seed = /^\d+$/.test(seed) ? Number(seed) : seed;
      if (words) changes.prompt = words;
      if (strength) changes.strength = isNaN(Number(strength)) ? strength : Number(strength);
      if ($("scope").value !== "cut") changes.scope = $("scope").value;
      if ($("paint4").checked && !changes.scope) changes.candidates = 4;
      if (changes.scope === "region") {
        changes.region = regionOf($("region").value);
        delete changes.strength;
        if (!changes.region) {
          $("error").textContent = "drag a rectangle on the picture, or type the region as x,y,w,h";
          return;
        }
      }
    }
    post(formKind, $("note").value, changes);
  }

  document.addEventListener("DOMContentLoaded", function () {
    $("approve").addEventListener("click", function () { post("approve", "", {}); });
    $("retake").addEventListener("click", function () { openForm("retake"); });
    $("comment").addEventListener("click", function () { openForm("comment"); });
    $("cancel").addEventListener("click", closeForm);
    $("scope").addEventListener("change", scopeChanged);
    $("region").addEventListener("input", showRegion);
    $("note-form").addEventListener("submit", send);
    $("by-place").addEventListener("click", function () { order = "place"; drawList(); });
    $("by-cut").addEventListener("click", function () { order = "cut"; drawList(); });
    $("overlay").addEventListener("change", function () { document.body.classList.toggle("overlay", this.checked); });
    document.addEventListener("keydown", function (e) {
      if (e.target.closest && e.target.closest("input, textarea")) {
        if (e.key === "Escape") { closeForm(); e.target.blur(); }
        return;
      }
      if (e.ctrlKey || e.metaKey || e.altKey || !data) return;
      switch (e.key) {
        case "ArrowRight": case "ArrowDown": case "j": move(1); break;
        case "ArrowLeft": case "ArrowUp": case "k": move(-1); break;
        case "a": post("approve", "", {}); break;
        case "r": openForm("retake"); break;
        case "c": openForm("comment"); break;
        case "o":
          $("overlay").checked = !$("overlay").checked;
          document.body.classList.toggle("overlay", $("overlay").checked);
          break;
        default: return;
      }
      e.preventDefault();
    });
    load();
  });
})();
