// consentgate for web content inside the app (WebView / WKWebView): gives page
// scripts window.consentgate, a read-only view of the app's consent decisions.
//
//   consentgate.allows("usage_events")   -> true only while the category is allowed
//   consentgate.state                     -> {policyId, revision, version, needsPrompt,
//                                             allowed: [...], purposes: {id: status}, gpc, ageRestricted}
//   consentgate.addEventListener("change", fn) / removeEventListener("change", fn)
//   window "consentgate:change" event      -> the same state in event.detail
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
      ageRestricted: s.ageRestricted === true
    });
  }

  function apply(s) {
    var next = copyState(s);
    // Only newer than what the page has (pushes may race a page load).
    if (!next || next.version <= current.version) {
      return false;
    }
    current = next;
    listeners.slice().forEach(function (fn) {
      try { fn(current); } catch (e) { setTimeout(function () { throw e; }); }
    });
    try {
      window.dispatchEvent(new CustomEvent("consentgate:change", { detail: current }));
    } catch (e) { /* no CustomEvent: listeners were told */ }
    return true;
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
})
