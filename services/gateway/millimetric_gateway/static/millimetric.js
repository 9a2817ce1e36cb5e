/*! millimetric.js: page views and custom events for Millimetric. No dependencies, no cookies.
 * <script src="https://HOST/js/millimetric.js" data-key="pk_live_..." defer></script>
 * data-key  (required) the project's pk_ key: it can only write events, never read them
 * data-api  where to send events (default: the origin this script was loaded from)
 * data-auto "false" turns off automatic page views (then call millimetric.page() yourself)
 * API: millimetric.track(event, properties), .page(properties), .identify(userId), .reset()
 * The visitor's anonymous id lives in localStorage ("millimetric_aid"); nothing else is stored. */
(function (w, d) {
  "use strict";
  var VERSION = "1";
  var stub = w.millimetric;
  if (stub && stub.loaded) return;
  var script = d.currentScript || d.querySelector('script[src*="/js/millimetric.js"]');
  var key = script && script.getAttribute("data-key");
  if (!key) { if (w.console) w.console.warn("millimetric: add data-key=\"pk_live_...\" to the script tag"); return; }
  var endpoint = (script.getAttribute("data-api") || new URL(script.src, w.location.href).origin).replace(/\/+$/, "");
  var PARAMS = ["utm_source", "utm_medium", "utm_campaign", "utm_content", "utm_term", "gclid", "gbraid", "wbraid",
    "gad_source", "dclid", "msclkid", "yclid", "ttclid", "twclid", "li_fat_id", "rdt_cid", "sccid", "fbclid", "igshid", "epik"];
  var memory = {};

  function uuid() {
    var c = w.crypto;
    if (c && c.randomUUID) return c.randomUUID();
    var b = new Uint8Array(16), i, h = [];
    if (c && c.getRandomValues) c.getRandomValues(b); else for (i = 0; i < 16; i++) b[i] = Math.random() * 256;
    b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
    for (i = 0; i < 16; i++) h.push((b[i] + 256).toString(16).slice(1));
    return h.slice(0, 4).join("") + "-" + h.slice(4, 6).join("") + "-" + h.slice(6, 8).join("") + "-" +
      h.slice(8, 10).join("") + "-" + h.slice(10).join("");
  }
  function load(name) { try { return w.localStorage.getItem(name); } catch (e) { return memory[name] || null; } }
  function save(name, value) {
    memory[name] = value;
    try { if (value === null) w.localStorage.removeItem(name); else w.localStorage.setItem(name, value); } catch (e) { /* storage off */ }
  }
  function anonymousId() {
    var id = load("millimetric_aid");
    if (!id) { id = uuid(); save("millimetric_aid", id); }
    return id;
  }
  function assign(target, source) {
    for (var k in source) if (Object.prototype.hasOwnProperty.call(source, k)) target[k] = source[k];
    return target;
  }
  var lastUrl = null, pageReferrer = d.referrer;  // a single-page app's "referrer" is its previous URL
  function pageContext() { return { url: w.location.href, path: w.location.pathname, referrer: pageReferrer }; }
  function send(event, properties) {
    var now = new Date().toISOString();
    var body = { event: String(event), anonymousId: anonymousId(), properties: properties, timestamp: now, sentAt: now,
      messageId: uuid(), writeKey: key, context: { library: { name: "millimetric.js", version: VERSION } } };
    var userId = load("millimetric_uid");
    if (userId) body.userId = userId;
    var text = JSON.stringify(body), url = endpoint + "/v1/track";
    try { if (w.navigator.sendBeacon && w.navigator.sendBeacon(url, text)) return; } catch (e) { /* fall back to fetch */ }
    if (w.fetch) w.fetch(url, { method: "POST", body: text, keepalive: true, credentials: "omit",
      headers: { "Content-Type": "text/plain" } })["catch"](function () {});
  }
  var mm = {
    loaded: true,
    version: VERSION,
    track: function (event, properties) { send(event, assign(pageContext(), properties || {})); },
    page: function (properties) {
      if (lastUrl !== null) pageReferrer = lastUrl;
      lastUrl = w.location.href;
      var props = assign(pageContext(), { title: d.title }), params = new URLSearchParams(w.location.search), i, v;
      for (i = 0; i < PARAMS.length; i++) { v = params.get(PARAMS[i]); if (v) props[PARAMS[i]] = v; }
      send("page_view", assign(props, properties || {}));
    },
    identify: function (userId) { save("millimetric_uid", userId === null || userId === undefined ? null : String(userId)); },
    reset: function () { save("millimetric_uid", null); save("millimetric_aid", null); }
  };
  w.millimetric = mm;
  if (stub && stub.q) for (var i = 0; i < stub.q.length; i++) mm[stub.q[i][0]].apply(mm, stub.q[i][1]);
  if (script.getAttribute("data-auto") !== "false") {
    mm.page();
    var pushState = w.history.pushState;  // replaceState is left alone: routers use it for small URL edits
    w.history.pushState = function () {
      var before = w.location.href, result = pushState.apply(this, arguments);
      if (w.location.href !== before) mm.page();
      return result;
    };
    w.addEventListener("popstate", function () { if (w.location.href !== lastUrl) mm.page(); });
  }
})(window, document);
