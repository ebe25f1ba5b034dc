// consentgate for web content inside the app (WebView / WKWebView): gives page
// scripts window.consentgate, a read-only view of the app's consent decisions.
//
//   consentgate.allows("usage_events")   -> true only while the category is allowed
//   consentgate.state                     -> {policyId, revision, version, needsPrompt,
//                                             allowed: [...], purposes: {id: status}, gpc, ageRestricted}
//   consentgate.addEventListener("change", fn) / removeEventListener("change", fn)
//   window "consentgate:change" event      -> the same state in event.detail
//
// When the app's policy has an `interop` block (the state carries `tcf`), the
// IAB entry points are installed too, answering from the app's current strings:
//   __tcfapi(command, 2, callback, parameter)  TCF CMP API v2.2: ping, getTCData,
//                                              addEventListener, removeEventListener
//   __gpp(command, callback, parameter)        GPP CMP API v1.1 (when GPP applies):
//                                              ping, addEventListener, removeEventListener,
//                                              hasSection, getSection, getField
// The objects they hand out (TCData, ping data, sections) are built by the SDK's
// core from the strings; nothing here reads a TCF or GPP rule. A page that
// already has its own __tcfapi / __gpp keeps it.
//
// The page reads decisions and is told when they change; it can never change
// them: nothing here reaches the SDK, the object and its methods are frozen
// and cannot be replaced, and only the host (which injected this script with a
// secret nonce) can push a new state. Before the first state everything is
// blocked. Ships with the SDK (core/webview/consentgate.js) as one function
// expression; the SDK's webview_user_script(nonce, state) appends the call.
(function (nonce, initial) {
  "use strict";
  if (Object.prototype.hasOwnProperty.call(window, "consentgate")) {
    return; // installed once per page; a second injection changes nothing
  }
  var freeze = Object.freeze;
  var blocked = freeze({
    policyId: null, revision: 0, version: -1, needsPrompt: true,
    allowed: freeze([]), purposes: freeze({}), gpc: false, ageRestricted: false
  });
  var current = blocked;
  var listeners = [];

  // A deep copy of plain JSON data, frozen all the way down.
  function frozenCopy(v) {
    if (v === null || typeof v !== "object") {
      return v;
    }
    if (Array.isArray(v)) {
      return freeze(v.map(frozenCopy));
    }
    var out = {};
    Object.keys(v).forEach(function (k) { out[k] = frozenCopy(v[k]); });
    return freeze(out);
  }

  function copyState(s) {
    if (!s || typeof s !== "object" || !Array.isArray(s.allowed)) {
      return null;
    }
    var purposes = {};
    var p = s.purposes && typeof s.purposes === "object" ? s.purposes : {};
    Object.keys(p).forEach(function (k) { purposes[k] = String(p[k]); });
    return freeze({
      policyId: String(s.policyId),
      revision: Number(s.revision) || 0,
      version: Number(s.version) || 0,
      needsPrompt: s.needsPrompt === true,
      allowed: freeze(s.allowed.map(String)),
      purposes: freeze(purposes),
      gpc: s.gpc === true,
      ageRestricted: s.ageRestricted === true,
      tcf: s.tcf && typeof s.tcf === "object" ? frozenCopy(s.tcf) : null,
      gpp: s.gpp && typeof s.gpp === "object" ? frozenCopy(s.gpp) : null
    });
  }

  function apply(s) {
    var next = copyState(s);
    // Only newer than what the page has (pushes may race a page load).
    if (!next || next.version <= current.version) {
      return false;
    }
    var before = current;
    current = next;
    listeners.slice().forEach(function (fn) { call(fn, [current]); });
    iabChanged(before, current);
    try {
      window.dispatchEvent(new CustomEvent("consentgate:change", { detail: current }));
    } catch (e) { /* no CustomEvent: listeners were told */ }
    return true;
  }

  // Calls a page callback; what it throws is rethrown later, not at the host.
  function call(fn, args) {
    try { fn.apply(null, args); } catch (e) { setTimeout(function () { throw e; }); }
  }

  function same(a, b) {
    return JSON.stringify(a) === JSON.stringify(b);
  }

  // --- __tcfapi (IAB TCF CMP API v2.2) ---
  var tcfListeners = {};
  var gppListeners = {};
  var nextListenerId = 1;

  // TCData for one answer: a fresh object the page may keep.
  function tcData(eventStatus, listenerId, vendorIds) {
    var d = JSON.parse(JSON.stringify(current.tcf.tcData));
    d.eventStatus = eventStatus;
    if (listenerId !== undefined) { d.listenerId = listenerId; }
    if (Array.isArray(vendorIds)) {
      ["consents", "legitimateInterests"].forEach(function (k) {
        var all = d.vendor[k], some = {};
        vendorIds.forEach(function (id) { some[String(id)] = all[String(id)] === true; });
        d.vendor[k] = some;
      });
    }
    return d;
  }

  // Before a string exists where the GDPR may apply, the user has not chosen yet.
  function loadedStatus() {
    var d = current.tcf.tcData;
    return d.tcString === "" && d.gdprApplies !== false ? "cmpuishown" : "tcloaded";
  }

  function tcfapi(command, version, callback, parameter) {
    if (typeof callback !== "function") { return; }
    if (command === "ping") {
      return call(callback, [JSON.parse(JSON.stringify(current.tcf.ping)), true]);
    }
    if (version !== undefined && version !== null && version !== 0 && version !== 2) {
      return call(callback, [null, false]);
    }
    switch (command) {
      case "getTCData":
        return call(callback, [tcData(loadedStatus(), undefined, parameter), true]);
      case "addEventListener":
        var id = nextListenerId++;
        tcfListeners[id] = callback;
        return call(callback, [tcData(loadedStatus(), id), true]);
      case "removeEventListener":
        var known = Object.prototype.hasOwnProperty.call(tcfListeners, parameter);
        delete tcfListeners[parameter];
        return call(callback, [known]);
      default:
        return call(callback, [null, false]);
    }
  }

  // --- __gpp (IAB GPP CMP API v1.1) ---
  function pingData() {
    return JSON.parse(JSON.stringify(current.gpp));
  }

  function section(name) {
    var s = current.gpp.parsedSections;
    return Object.prototype.hasOwnProperty.call(s, name) ? s[name] : null;
  }

  function gppapi(command, callback, parameter) {
    if (typeof callback !== "function") { return; }
    switch (command) {
      case "ping":
        return call(callback, [pingData(), true]);
      case "addEventListener":
        var id = nextListenerId++;
        gppListeners[id] = callback;
        return call(callback, [{ eventName: "listenerRegistered", listenerId: id, data: true, pingData: pingData() }, true]);
      case "removeEventListener":
        var known = Object.prototype.hasOwnProperty.call(gppListeners, parameter);
        delete gppListeners[parameter];
        return call(callback, [known, true]);
      case "hasSection":
        return call(callback, [section(String(parameter)) !== null, true]);
      case "getSection":
        var s = section(String(parameter));
        return call(callback, [s === null ? null : JSON.parse(JSON.stringify(s)), true]);
      case "getField":
        var path = String(parameter), dot = path.indexOf(".");
        var sec = dot > 0 ? section(path.slice(0, dot)) : null;
        var field = sec && Object.prototype.hasOwnProperty.call(sec, path.slice(dot + 1))
          ? JSON.parse(JSON.stringify(sec[path.slice(dot + 1)])) : null;
        return call(callback, [field, true]);
      default:
        return call(callback, [null, false]);
    }
  }

  // Tells the IAB listeners what changed between two states.
  function iabChanged(before, after) {
    if (after.tcf && !same(before.tcf, after.tcf)) {
      Object.keys(tcfListeners).forEach(function (id) {
        call(tcfListeners[id], [tcData("useractioncomplete", Number(id)), true]);
      });
    }
    if (after.gpp && !same(before.gpp, after.gpp)) {
      var was = (before.gpp && before.gpp.parsedSections) || {};
      var now = after.gpp.parsedSections;
      var changed = Object.keys(now).concat(Object.keys(was)).filter(function (name, i, all) {
        return all.indexOf(name) === i && !same(was[name], now[name]);
      });
      Object.keys(gppListeners).forEach(function (id) {
        changed.forEach(function (name) {
          call(gppListeners[id], [{ eventName: "sectionChange", listenerId: Number(id), data: name, pingData: pingData() }, true]);
        });
        call(gppListeners[id], [{ eventName: "signalStatus", listenerId: Number(id), data: "ready", pingData: pingData() }, true]);
      });
    }
  }

  function define(name, value) {
    Object.defineProperty(window, name, {
      value: value, writable: false, configurable: false, enumerable: false
    });
  }

  var api = freeze({
    allows: function (category) {
      return current.allowed.indexOf(String(category)) !== -1;
    },
    get state() { return current; },
    addEventListener: function (type, fn) {
      if (type === "change" && typeof fn === "function" && listeners.indexOf(fn) === -1) {
        listeners.push(fn);
      }
    },
    removeEventListener: function (type, fn) {
      var i = listeners.indexOf(fn);
      if (type === "change" && i !== -1) { listeners.splice(i, 1); }
    }
  });

  Object.defineProperty(window, "consentgate", {
    value: api, writable: false, configurable: false, enumerable: true
  });
  // The host's channel: evaluated by the app on every change, with the nonce
  // only the app knows; anything else is ignored.
  Object.defineProperty(window, "__consentgateUpdate", {
    value: function (n, s) { return n === nonce && apply(s); },
    writable: false, configurable: false, enumerable: false
  });
  if (initial) {
    apply(initial);
  }
  // The IAB entry points exist when the app's policy has an interop block
  // (the state the host injected says so), unless the page brought its own.
  if (current.tcf && typeof window.__tcfapi === "undefined") {
    define("__tcfapi", freeze(tcfapi));
  }
  if (current.gpp && typeof window.__gpp === "undefined") {
    define("__gpp", freeze(gppapi));
  }
})
