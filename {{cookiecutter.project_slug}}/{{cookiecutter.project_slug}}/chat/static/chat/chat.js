// Chat client: one websocket per page, reconnecting with jittered exponential backoff.
// What it must agree on with the server (the socket's path, close codes, the login page)
// comes from the page's "chat-config", which Django writes from the Python that defines it.
"use strict";

(() => {
  const config = JSON.parse(document.getElementById("chat-config").textContent);
  const BACKOFF_BASE_MS = 500;
  const BACKOFF_MAX_MS = 30000;
  const PING_INTERVAL_MS = 25000; // keeps proxies from closing an idle socket
  // After 4429 (too many messages or sockets) the server wants less: wait at least this,
  // twice as long after each 4429 in a row, until a socket has stayed open STABLE_MS.
  const RATE_LIMITED_BASE_MS = 5000;
  const STABLE_MS = 10000;
  // A server that is stopping (a rolling restart) closes every socket with 1012: the other
  // hosts are up, so come back at once, spread over RESTART_JITTER_MS so that a whole
  // host's clients do not arrive in the same instant. If that try fails, the backoff rules.
  const SERVICE_RESTART = 1012;
  const RESTART_JITTER_MS = 1000;

  const log = document.getElementById("chat-log");
  const status = document.getElementById("chat-status");
  const form = document.getElementById("chat-form");
  const input = document.getElementById("chat-input");

  let socket = null;
  let attempt = 0;
  let pingTimer = null;
  let reconnectTimer = null;
  let stableTimer = null;
  let rateLimited = 0; // 4429 closes in a row

  function socketUrl() {
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    return `${scheme}//${window.location.host}${config.socketPath}`;
  }

  function setStatus(state, text) {
    status.dataset.state = state;
    status.textContent = text;
  }

  // Each piece of text from others in an isolated bidi context (dir="auto"): whatever
  // direction it takes cannot reorder the name beside it or the lines around it.
  function isolated(text, className) {
    const span = document.createElement("span");
    span.dir = "auto";
    if (className) span.className = className;
    span.textContent = text;
    return span;
  }

  function append(author, text, className) {
    const item = document.createElement("li");
    if (className) item.className = className;
    if (author) item.append(isolated(author, "author"));
    item.append(isolated(text, "text"));
    log.append(item);
    log.scrollTop = log.scrollHeight;
  }

  // "Full jitter": a random delay up to an exponentially growing cap, so that clients
  // disconnected together do not all come back at the same instant.
  function backoffDelay() {
    const cap = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** attempt);
    attempt += 1;
    return Math.random() * cap;
  }

  // "Equal jitter": never less than half the cap, so a limited client really slows down.
  function rateLimitedDelay() {
    const cap = Math.min(BACKOFF_MAX_MS, RATE_LIMITED_BASE_MS * 2 ** (rateLimited - 1));
    return cap / 2 + (Math.random() * cap) / 2;
  }

  function scheduleReconnect(delay, reason = "Disconnected.") {
    if (reconnectTimer !== null) return;
    setStatus("waiting", `${reason} Reconnecting in ${Math.ceil(delay / 1000)} s…`);
    reconnectTimer = window.setTimeout(() => {
      reconnectTimer = null;
      connect();
    }, delay);
  }

  function handleEvent(event) {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    if (data.type === "chat.message") {
      append(data.user, data.message);
    } else if (data.type === "error") {
      append(null, `Error: ${data.detail}`, "notice error");
    }
  }

  function connect() {
    setStatus("connecting", "Connecting…");
    socket = new WebSocket(socketUrl());
    socket.addEventListener("open", () => {
      attempt = 0;
      setStatus("open", "Connected");
      pingTimer = window.setInterval(() => send({ type: "ping" }), PING_INTERVAL_MS);
      stableTimer = window.setTimeout(() => {
        rateLimited = 0;
      }, STABLE_MS);
    });
    socket.addEventListener("message", handleEvent);
    socket.addEventListener("close", (event) => {
      window.clearInterval(pingTimer);
      window.clearTimeout(stableTimer);
      socket = null;
      if (event.code === config.closeCodes.UNAUTHENTICATED && config.loginUrl) {
        const next = encodeURIComponent(window.location.pathname);
        window.location.assign(`${config.loginUrl}?next=${next}`);
        return;
      }
      if (event.code === config.closeCodes.RATE_LIMITED) {
        rateLimited += 1;
        scheduleReconnect(rateLimitedDelay(), "Too many messages or open pages.");
        return;
      }
      if (event.code === SERVICE_RESTART && attempt === 0) {
        scheduleReconnect(Math.random() * RESTART_JITTER_MS, "Server restarting.");
        return;
      }
      scheduleReconnect(backoffDelay());
    });
  }

  function send(payload) {
    if (socket === null || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(payload));
    return true;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const message = input.value.trim();
    if (!message) return;
    if (send({ type: "chat.message", message })) {
      input.value = "";
    } else {
      append(null, "Not connected: your message was not sent.", "notice");
    }
  });

  // Come back at once when the network or the tab does, instead of waiting out the backoff.
  function reconnectNow() {
    if (socket !== null || rateLimited > 0) return;
    window.clearTimeout(reconnectTimer);
    reconnectTimer = null;
    attempt = 0;
    connect();
  }
  window.addEventListener("online", reconnectNow);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") reconnectNow();
  });

  connect();
})();
