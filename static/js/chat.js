/* CatChat chat page: one WebSocket per tab to /ws/cats/<id>/ (frames: cats/frames.py).
 *
 * Safety rule: whatever a user or the model wrote only ever enters the page through
 * textContent (never innerHTML), so a message like <img onerror=...> stays text. The cat's
 * replies render as Markdown through static/js/markdown.js, which builds elements the same way.
 *
 * Reliability rules: a message is saved by the server before anything else, keyed by a
 * client_id we choose, so an unconfirmed message is simply resent with the same id after a
 * reconnect (the server deduplicates). Streamed deltas are numbered; a gap means frames were
 * lost, and reconnecting gets a fresh snapshot (`hello.in_flight`) to continue from.
 *
 * The cat's vitals and mood arrive in `hello.state` and `cat.state` (every change, from any tab
 * or from the chat itself); they drive the meters, the mood in words and the drawn cat
 * (`#cat-figure[data-mood]`, styled by app.css). Care buttons send `cat.action` and wait for the
 * answer, a `cat.state` whose `care` says whether the cat accepted, in its own words.
 */
"use strict";

(() => {
  const configNode = document.getElementById("chat-config");
  if (!configNode) return;
  const config = JSON.parse(configNode.textContent);

  const $ = (id) => document.getElementById(id);
  const el = {
    chat: $("chat"),
    log: $("message-log"),
    form: $("composer"),
    input: $("composer-input"),
    send: $("send-button"),
    stop: $("stop-button"),
    typing: $("typing-indicator"),
    notice: $("composer-notice"),
    status: $("connection-status"),
    banner: $("offline-banner"),
    sidebar: $("conversation-list"),
    sidebarToggle: $("sidebar-toggle"),
    vitals: $("vitals"),
    vitalsToggle: $("vitals-toggle"),
    figure: $("cat-figure"),
    moodText: $("mood-text"),
    moodHint: $("mood-hint"),
    sleepNote: $("sleep-note"),
    sleepUntil: $("sleep-until"),
    meters: Array.from(document.querySelectorAll("#vitals meter[data-vital]")),
    careButtons: Array.from(document.querySelectorAll("#vitals .care__button[data-action]")),
    careStatus: $("care-status"),
  };

  const CLOSE_UNAUTHENTICATED = 4401;
  const CLOSE_NOT_FOUND = 4404;
  const CLOSE_RESYNC = 4000; // ours: "drop this socket and take a fresh snapshot"
  const FINAL_STATUSES = new Set(["complete", "stopped", "error", "interrupted"]);
  const NOTES = { stopped: "(stopped)", interrupted: "(interrupted)", error: "(something went wrong)" };
  const ERROR_FALLBACK = "Mrrp… my thoughts got tangled. Try again?";
  const TITLE_CHARS = 60;
  const SNIPPET_CHARS = 60; // an episode's receipt quotes this much (cats/views.py SNIPPET_CHARS)
  // "8 May 2023", as the server renders it (Django's "j F Y"), in this browser's time zone.
  const DAY_FORMAT = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "long", year: "numeric" });
  // The moods the page can draw (cats/looks.py); any other is drawn as content.
  const MOOD_HINTS = config.moods || {};
  const MOODS = new Set(Object.keys(MOOD_HINTS).filter((mood) => mood !== "asleep"));
  const CARE_ANSWER_MS = 8000; // buttons wait this long for the cat's answer, then unlock
  const CARE_STATUS_MS = 20000; // how long the cat's answer to care stays on screen
  const VITALS_COLLAPSED_KEY = "catchat.vitalsCollapsed";
  const BANNER_DISMISSED_KEY = `catchat.offlineBannerDismissed.${config.cat.id}`;
  function bannerDismissed() {
    try {
      return window.sessionStorage.getItem(BANNER_DISMISSED_KEY) === "1";
    } catch {
      return false;
    }
  }
  // Errors about a message that resending cannot fix.
  const FINAL_SEND_ERRORS = new Set(["too_long", "empty", "bad_frame", "conflict", "not_found"]);

  const state = {
    conversation: config.conversation, // id on screen, or null for a new one
    socket: null,
    open: false, // hello received on the current socket
    everConnected: false,
    attempt: 0,
    reconnectTimer: null,
    terminal: false, // 4401 / 4404: reconnecting cannot help
    leaving: false,
    resyncNow: false,
    // Messages typed here and not yet confirmed by chat.accepted, oldest first.
    pending: [], // {clientId, text, conversation, node, sent}
    // Cat replies streaming in the conversation on screen: id -> {seq, text, node}.
    streams: new Map(),
    carePending: null, // the care action sent and not yet answered
    careTimer: null,
    careStatusTimer: null,
    wakeTimer: null,
    // Texts of the memories the replies on screen were given: id -> text (receipts).
    remembered: new Map(),
    // The human's earlier messages they were given (episodes): message id -> {text, at,
    // conversation}. Message ids, not memory ids: a map of their own.
    episodes: new Map(),
    // The replies to each user message, oldest first: user message id -> [message payload].
    // A regenerated turn has several; the page shows the kept one (chat.keep, chat.kept).
    alternatives: new Map(),
    // The versions of each edited message of the human's, oldest first: first version's id ->
    // [{id, text, created_at}]. One is shown, with its own switcher (chat.keep, chat.branched).
    versions: new Map(),
    napUntil: 0, // Date.now() until which the cat naps (rate_limited): no sending till then
    napTimer: null,
  };

  // --- small helpers -------------------------------------------------------------------------

  function newClientId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") {
      return window.crypto.randomUUID();
    }
    // randomUUID exists only in secure contexts: a plain-http LAN address lacks it.
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    bytes[6] = (bytes[6] & 0x0f) | 0x40; // version 4
    bytes[8] = (bytes[8] & 0x3f) | 0x80; // RFC 4122 variant
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  function formatTime(iso) {
    const date = iso ? new Date(iso) : new Date();
    if (Number.isNaN(date.getTime())) return "";
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  function formatDay(iso) {
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? "" : DAY_FORMAT.format(date);
  }

  // What the human said, on one line, cut at the last word that fits. Same as cats/views.py
  // `_snippet` (counted in characters, not UTF-16 units, as Python counts).
  function snippet(text) {
    const line = String(text).split(/\s+/u).filter(Boolean).join(" ");
    const chars = Array.from(line);
    if (chars.length <= SNIPPET_CHARS) return line;
    let cut = chars.slice(0, SNIPPET_CHARS - 1).join("");
    const space = cut.lastIndexOf(" ");
    if (space !== -1 && Array.from(cut.slice(0, space)).length >= Math.floor(SNIPPET_CHARS / 2)) {
      cut = cut.slice(0, space);
    }
    return `${cut.replace(/[\s.,;:!?…-]+$/u, "")}…`;
  }

  function titleFrom(text) {
    const line = String(text || "").split("\n")[0].trim();
    if (!line) return "New conversation";
    return line.length <= TITLE_CHARS ? line : `${line.slice(0, TITLE_CHARS - 1)}…`;
  }

  function sameId(a, b) {
    return a !== null && a !== undefined && b !== null && b !== undefined && Number(a) === Number(b);
  }

  function conversationUrl(id) {
    return `${window.location.pathname}?conversation=${encodeURIComponent(id)}`;
  }

  function nearBottom() {
    return el.log.scrollHeight - el.log.scrollTop - el.log.clientHeight < 120;
  }

  // Keep the newest line in view, unless the reader has scrolled up to read older ones.
  function keepScrolled(change, force = false) {
    const stick = force || nearBottom();
    change();
    if (stick) el.log.scrollTop = el.log.scrollHeight;
  }

  function typingDots() {
    const dots = document.createElement("span");
    dots.className = "typing-dots";
    dots.setAttribute("aria-hidden", "true");
    for (let i = 0; i < 3; i += 1) dots.append(document.createElement("span"));
    return dots;
  }

  // --- messages in the log -------------------------------------------------------------------

  function findMessage(id) {
    return el.log.querySelector(`[data-message-id="${Number(id)}"]`);
  }

  function findByClientId(clientId) {
    return Array.from(el.log.querySelectorAll("[data-client-id]")).find(
      (node) => node.dataset.clientId === clientId,
    );
  }

  function buildMessage(role) {
    const safeRole = role === "user" ? "user" : "cat";
    const node = document.createElement("article");
    node.className = `message message--${safeRole}`;
    node.dataset.role = safeRole;

    const meta = document.createElement("div");
    meta.className = "message__meta";
    const author = document.createElement("span");
    author.className = "message__author";
    author.textContent = safeRole === "user" ? "You" : config.cat.name;
    const time = document.createElement("time");
    meta.append(author, " ", time);

    const text = document.createElement("div");
    text.className = "message__text";
    const note = document.createElement("div");
    note.className = "message__note";
    const actions = document.createElement("div");
    actions.className = "message__actions";
    node.append(meta, text, note, actions);
    return node;
  }

  function setTime(node, iso) {
    const time = node.querySelector(".message__meta time");
    if (!time) return;
    if (iso) time.dateTime = iso;
    time.textContent = formatTime(iso || time.dateTime);
  }

  function setText(node, text, status) {
    let box = node.querySelector(".message__text");
    if (node.dataset.role === "cat" && text && window.CatMarkdown) {
      setReplyText(node, box, text, status);
      return;
    }
    cancelReplyRender(node);
    replySources.delete(node);
    if (box.hasAttribute("aria-hidden")) box = freshTextBox(box); // was a streaming render
    if (status === "streaming" && !text) {
      box.replaceChildren(typingDots());
    } else if (status === "error" && !text) {
      box.textContent = ERROR_FALLBACK;
    } else {
      box.textContent = text;
    }
    setCopyButton(node, false);
  }

  // --- rich replies: the cat's text as Markdown (static/js/markdown.js), with a copy button ---
  // The human's messages stay plain text. markdown.js builds elements, never markup, so no HTML
  // from the model reaches the page. Screen readers: while a reply streams, its box is
  // re-rendered (at most once a frame) and hidden from them (aria-hidden), so the log
  // (aria-live="polite") never re-reads the whole reply on each delta; when the reply ends, a
  // new box with the final text takes its place, an addition to the log announced once, whole.
  // A reply that is already shown as it is (a resync, a repeated frame) is left alone, so it
  // is not announced again.

  const replySources = new WeakMap(); // cat reply node -> its Markdown source (what Copy copies)
  const shownSources = new WeakMap(); // final text box -> the source rendered in it
  const replyRenders = new Map(); // streaming reply node -> pending animation frame

  function freshTextBox(box) {
    const fresh = box.cloneNode(false);
    fresh.removeAttribute("aria-hidden");
    box.replaceWith(fresh);
    return fresh;
  }

  function cancelReplyRender(node) {
    if (!replyRenders.has(node)) return;
    window.cancelAnimationFrame(replyRenders.get(node));
    replyRenders.delete(node);
  }

  function setReplyText(node, box, text, status) {
    replySources.set(node, text);
    if (status === "streaming") {
      box.classList.add("message__text--rich");
      box.setAttribute("aria-hidden", "true");
      setCopyButton(node, false);
      // Deltas can come faster than frames: render the newest text once per frame.
      if (replyRenders.has(node)) return;
      replyRenders.set(node, window.requestAnimationFrame(() => {
        replyRenders.delete(node);
        const current = node.querySelector(".message__text");
        const source = replySources.get(node);
        if (!current || !current.hasAttribute("aria-hidden") || source === undefined) return;
        keepScrolled(() => current.replaceChildren(window.CatMarkdown.render(source, { streaming: true })));
      }));
      return;
    }
    cancelReplyRender(node);
    if (!box.hasAttribute("aria-hidden") && shownSources.get(box) === text) {
      setCopyButton(node, true);
      return;
    }
    const fresh = box.cloneNode(false);
    fresh.removeAttribute("aria-hidden");
    fresh.classList.add("message__text--rich");
    fresh.append(window.CatMarkdown.render(text));
    shownSources.set(fresh, text);
    box.replaceWith(fresh);
    setCopyButton(node, true);
  }

  function setCopyButton(node, wanted) {
    const actions = node.querySelector(".message__actions");
    let button = actions && actions.querySelector(".message__copy");
    if (!wanted || !actions) {
      if (button) button.remove();
      return;
    }
    if (button) return;
    button = document.createElement("button");
    button.type = "button";
    button.className = "button button--small message__copy";
    const label = document.createElement("span");
    label.className = "message__copy-label";
    label.textContent = "Copy";
    const rest = document.createElement("span");
    rest.className = "visually-hidden";
    rest.textContent = " reply";
    button.append(label, rest); // named "Copy reply"; shows "Copy"
    const switcher = actions.querySelector(".message__switcher");
    if (switcher) switcher.after(button);
    else actions.prepend(button);
  }

  // Polite feedback for Copy, outside the log (a live region of its own, so the log does not
  // announce it as a message).
  const copyStatus = document.createElement("p");
  copyStatus.className = "visually-hidden";
  copyStatus.id = "copy-status";
  copyStatus.setAttribute("role", "status");
  document.body.append(copyStatus);

  async function copyReply(button) {
    const node = button.closest(".message");
    const source = node ? replySources.get(node) : undefined;
    if (source === undefined) return;
    let copied = false;
    try {
      await navigator.clipboard.writeText(source);
      copied = true;
    } catch {
      copied = copyByHand(source); // plain http on a LAN address has no navigator.clipboard
      button.focus(); // copying by hand selected a textarea of its own
    }
    const [label, rest] = button.children;
    label.textContent = copied ? "Copied" : "Copy failed";
    rest.textContent = "";
    copyStatus.textContent = copied ? "Copied" : "Could not copy the reply";
    window.clearTimeout(button.copyTimer);
    button.copyTimer = window.setTimeout(() => {
      label.textContent = "Copy";
      rest.textContent = " reply";
      copyStatus.textContent = "";
    }, 2500);
  }

  function copyByHand(source) {
    const area = document.createElement("textarea");
    area.value = source;
    area.setAttribute("readonly", "");
    area.className = "visually-hidden";
    document.body.append(area);
    area.select();
    let done = false;
    try {
      done = document.execCommand("copy");
    } catch {
      done = false;
    }
    area.remove();
    return done;
  }

  function setNote(node, note) {
    node.querySelector(".message__note").textContent = note || "";
  }

  // The "Remembered" receipts under a cat reply: one link per memory it was given that is
  // still known here (a forgotten one disappears), then one per earlier message of the human's
  // (an episode: its day and its first words, to that message in its conversation). Built
  // with textContent, never markup.
  function setReceipts(node, ids, episodeIds = []) {
    node.dataset.memories = ids.map(Number).join(" ");
    node.dataset.episodes = episodeIds.map(Number).join(" ");
    const known = ids.map(Number).filter((id) => state.remembered.has(id));
    const said = episodeIds.map(Number).filter((id) => state.episodes.has(id));
    let box = node.querySelector(".message__memories");
    if (!known.length && !said.length) {
      if (box) box.remove();
      return;
    }
    if (!box) {
      box = document.createElement("div");
      box.className = "message__memories";
      node.insertBefore(box, node.querySelector(".message__actions"));
    }
    const label = document.createElement("span");
    label.className = "message__memories-label";
    label.textContent = "Remembered";
    const links = known.map((id) => {
      const link = document.createElement("a");
      link.className = "memory-receipt";
      link.href = `${config.memoriesUrl}?status=all#memory-${id}`;
      link.dataset.memoryId = String(id);
      link.textContent = state.remembered.get(id);
      return link;
    });
    links.push(...said.map((id) => episodeReceipt(id, state.episodes.get(id))));
    box.replaceChildren(label, ...links.flatMap((link) => [" ", link]));
  }

  // Same markup as templates/cats/_message.html: "8 May 2023: “I went to…”", read out as
  // "You said on 8 May 2023: …", the whole message in its title.
  function episodeReceipt(id, episode) {
    const link = document.createElement("a");
    link.className = "episode-receipt";
    link.href = `${conversationUrl(episode.conversation)}#message-${id}`;
    link.dataset.episodeId = String(id);
    link.dataset.conversation = String(Number(episode.conversation));
    link.title = episode.text;
    const spoken = document.createElement("span");
    spoken.className = "visually-hidden";
    spoken.textContent = "You said on ";
    const time = document.createElement("time");
    time.dateTime = episode.at;
    time.textContent = formatDay(episode.at);
    const quote = document.createElement("span");
    quote.className = "episode-receipt__text";
    quote.textContent = snippet(episode.text);
    link.append(spoken, time, ": “", quote, "”");
    return link;
  }

  // An episode receipt of the server-rendered page, as state.episodes holds it.
  function learnEpisode(receipt) {
    const time = receipt.querySelector("time");
    state.episodes.set(Number(receipt.dataset.episodeId), {
      text: receipt.title,
      at: time ? time.getAttribute("datetime") : "",
      conversation: Number(receipt.dataset.conversation),
    });
  }

  function rememberEpisode(episode) {
    state.episodes.set(Number(episode.id), {
      text: String(episode.text),
      at: String(episode.at || ""),
      conversation: Number(episode.conversation),
    });
  }

  function idList(value) {
    return (value || "").split(" ").filter(Boolean).map(Number);
  }

  function refreshReceipts(memoryId) {
    for (const node of el.log.querySelectorAll(".message[data-memories]")) {
      const ids = idList(node.dataset.memories);
      if (ids.includes(memoryId)) setReceipts(node, ids, idList(node.dataset.episodes));
    }
  }

  // memory.changed: a correction shows in the receipts, a forgotten memory leaves them.
  function onMemoryChanged(frame) {
    const memory = frame.memory;
    if (!memory || memory.id === undefined) return;
    const id = Number(memory.id);
    if (frame.op === "removed" || memory.status === "rejected") state.remembered.delete(id);
    else if (state.remembered.has(id)) state.remembered.set(id, String(memory.text));
    else return;
    refreshReceipts(id);
  }

  function applyMessage(node, msg) {
    node.dataset.messageId = String(Number(msg.id));
    node.id = `message-${Number(msg.id)}`;
    node.dataset.status = msg.status;
    if (msg.client_id) node.dataset.clientId = msg.client_id;
    setText(node, msg.text || "", msg.status);
    setNote(node, NOTES[msg.status]);
    setTime(node, msg.created_at);
    if (msg.role === "cat" && (Array.isArray(msg.memories_used) || Array.isArray(msg.episodes_used))) {
      setReceipts(node, msg.memories_used || [], msg.episodes_used || []);
    }
    if (msg.role === "user" && msg.edit_of) node.dataset.editOf = String(Number(msg.edit_of));
    if (msg.role === "cat" && msg.reply_to !== null && msg.reply_to !== undefined) {
      node.dataset.replyTo = String(Number(msg.reply_to));
      noteAlternative(msg);
      hideAlternatives(node); // one reply of a turn is shown: this one takes their place
    }
    // Screen readers wait for a streaming reply to finish instead of reading every word.
    if (msg.status === "streaming") node.setAttribute("aria-busy", "true");
    else node.removeAttribute("aria-busy");
  }

  function removeEmptyPlaceholder() {
    const empty = el.log.querySelector(".log__empty");
    if (empty) empty.remove();
  }

  // Saved messages sit in id order, before the ones still waiting to be sent.
  function insertSaved(node, id) {
    removeEmptyPlaceholder();
    const later = Array.from(el.log.querySelectorAll(".message")).find(
      (other) => !other.dataset.messageId || Number(other.dataset.messageId) > Number(id),
    );
    el.log.insertBefore(node, later || null);
  }

  // Create or update the element of a saved message (payload shape: cats/frames.py).
  function showMessage(msg) {
    let node = findMessage(msg.id);
    if (!node && msg.client_id) {
      // Our own unconfirmed bubble for it: confirm it instead of drawing it twice.
      node = findByClientId(msg.client_id);
      if (node) takePending(msg.client_id);
    }
    if (!node) {
      node = buildMessage(msg.role);
      keepScrolled(() => insertSaved(node, msg.id));
    }
    keepScrolled(() => applyMessage(node, msg));
    return node;
  }

  // --- alternatives: the replies to one user message ------------------------------------------
  // Regenerating keeps the earlier replies; one is kept, and shown with a "‹ 2 / 3 ›" switcher.
  // Flipping asks the server (chat.keep); every tab shows the answer (chat.kept).

  function noteAlternative(msg) {
    const replyTo = Number(msg.reply_to);
    const id = Number(msg.id);
    const list = state.alternatives.get(replyTo) || [];
    const index = list.findIndex((alt) => alt.id === id);
    const entry = { ...(index === -1 ? {} : list[index]), ...msg, id, role: "cat", reply_to: replyTo };
    if (index === -1) list.push(entry);
    else list[index] = entry;
    list.sort((a, b) => a.id - b.id);
    state.alternatives.set(replyTo, list);
  }

  function shownReply(replyTo) {
    return el.log.querySelector(`.message[data-role="cat"][data-reply-to="${Number(replyTo)}"]`);
  }

  // What a server-rendered reply knows of its turn: every alternative (data-alternatives), or
  // just itself. Their receipts' texts come along.
  function learnAlternatives(node) {
    if (!node.dataset.replyTo) return;
    let list = [];
    try {
      list = JSON.parse(node.dataset.alternatives || "[]");
    } catch {
      list = [];
    }
    if (!Array.isArray(list) || !list.length) {
      const box = node.querySelector(".message__text");
      const text = box ? box.textContent : "";
      list = [{
        id: Number(node.dataset.messageId),
        reply_to: Number(node.dataset.replyTo),
        status: node.dataset.status,
        text: node.dataset.status === "error" && text === ERROR_FALLBACK ? "" : text,
        created_at: node.querySelector(".message__meta time")?.getAttribute("datetime") || null,
        memories_used: idList(node.dataset.memories),
        episodes_used: idList(node.dataset.episodes),
      }];
    }
    for (const alt of list) {
      for (const [id, text] of Array.isArray(alt.receipts) ? alt.receipts : []) {
        state.remembered.set(Number(id), String(text));
      }
      for (const episode of Array.isArray(alt.episodes) ? alt.episodes : []) rememberEpisode(episode);
      noteAlternative(alt);
    }
  }

  function hideAlternatives(shown) {
    const selector = `.message[data-role="cat"][data-reply-to="${Number(shown.dataset.replyTo)}"]`;
    for (const other of el.log.querySelectorAll(selector)) {
      if (other !== shown) other.remove();
    }
  }

  // The switcher of each reply on screen that has alternatives, updated in place (a button
  // keeps its focus). Hidden while that reply streams; disabled while the cat answers.
  function refreshSwitchers() {
    for (const node of el.log.querySelectorAll('.message[data-role="cat"]')) {
      const list = state.alternatives.get(Number(node.dataset.replyTo)) || [];
      const position = list.findIndex((alt) => alt.id === Number(node.dataset.messageId)) + 1;
      let box = node.querySelector(".message__switcher");
      if (list.length < 2 || position === 0 || node.dataset.status === "streaming") {
        if (box) box.remove();
        continue;
      }
      if (!box) {
        box = buildSwitcher();
        node.querySelector(".message__actions").prepend(box);
      }
      box.querySelector(".message__switcher-count").textContent = `${position} / ${list.length}`;
      const [previous, next] = box.querySelectorAll(".message__switch");
      previous.disabled = position === 1 || isReplying();
      next.disabled = position === list.length || isReplying();
    }
  }

  // Of a reply's alternatives, or (`versions`) of the versions of an edited message.
  function buildSwitcher(versions = false) {
    const what = versions ? "version" : "reply";
    const box = document.createElement("div");
    box.className = versions ? "message__switcher message__switcher--versions" : "message__switcher";
    box.setAttribute("role", "group");
    box.setAttribute("aria-label", versions ? "Versions of your message" : "Replies to your message");
    const button = (step, label, symbol) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "message__switch";
      b.dataset.step = String(step);
      b.setAttribute("aria-label", label);
      b.textContent = symbol;
      return b;
    };
    const count = document.createElement("span");
    count.className = "message__switcher-count";
    box.append(button(-1, `Previous ${what}`, "‹"), count, button(1, `Next ${what}`, "›"));
    return box;
  }

  function flip(button) {
    const node = button.closest(".message");
    if (node.dataset.role === "user") {
      flipVersion(node, button);
      return;
    }
    const list = state.alternatives.get(Number(node.dataset.replyTo)) || [];
    const index = list.findIndex((alt) => alt.id === Number(node.dataset.messageId));
    const target = index === -1 ? null : list[index + Number(button.dataset.step)];
    if (!target) return;
    if (!keep(target.id)) {
      showNotice("Not connected right now: try again once the connection is back.");
    }
  }

  // chat.keep asked here and not answered yet: its client_id -> the message id. The server
  // echoes a frame's client_id in its error, so a refusal (busy, conflict) is known for ours.
  const keeps = new Map();

  function keep(messageId) {
    const clientId = newClientId();
    if (!send({ type: "chat.keep", message_id: Number(messageId), client_id: clientId })) return false;
    keeps.set(clientId, Number(messageId));
    return true;
  }

  function keepAnswered(messageId) {
    for (const [clientId, asked] of keeps) if (sameId(asked, messageId)) keeps.delete(clientId);
  }

  // An error about a chat.keep of ours: said, and true; false when it is not about one.
  function keepFailed(frame) {
    if (!frame.client_id || !keeps.has(frame.client_id)) return false;
    keeps.delete(frame.client_id);
    showNotice(describeError(frame));
    updateComposer();
    return true;
  }

  // chat.kept (from any tab): show the kept reply of that turn in place of the one shown.
  function onKept(frame) {
    keepAnswered(frame.message_id);
    if (frame.message) noteAlternative(frame.message);
    if (!sameId(frame.conversation, state.conversation)) return;
    const replyTo = Number(frame.reply_to);
    const node = shownReply(replyTo);
    const kept = (state.alternatives.get(replyTo) || []).find((alt) => sameId(alt.id, frame.message_id));
    if (!node || !kept) return; // that turn is not on screen here
    if (!sameId(node.dataset.messageId, kept.id)) keepScrolled(() => applyMessage(node, kept));
    updateComposer();
  }

  // --- editing a sent message: the versions of the human's messages ----------------------------
  // An edit is a new message, a version of the first one (cats/services/versions.py): the
  // server hides the edited version and every turn after it, and tells every tab (chat.accepted
  // with `replaces`), which shows the new version in their place; its reply streams as usual.
  // One version of each message is shown, with a "‹ 2 / 3 ›" switcher. Flipping asks the server
  // (chat.keep); the whole rest of the conversation changes with it, so every tab on it reads
  // the log again (chat.branched, `reloadLog`).

  // A message whose edit is on its way -> the text it showed (it shows the new one meanwhile).
  const editedTexts = new WeakMap();

  function rootOf(node) {
    return Number(node.dataset.editOf || node.dataset.messageId);
  }

  function shownText(node) {
    if (editedTexts.has(node)) return editedTexts.get(node);
    const box = node.querySelector(".message__text");
    return box ? box.textContent : "";
  }

  // What a server-rendered message of the human's knows of its versions (data-versions).
  function learnVersions(node) {
    if (node.dataset.role !== "user" || !node.dataset.versions) return;
    let list = [];
    try {
      list = JSON.parse(node.dataset.versions);
    } catch {
      return;
    }
    if (!Array.isArray(list) || list.length < 2) return;
    state.versions.set(
      Number(list[0].id),
      list.map((v) => ({ id: Number(v.id), text: String(v.text), created_at: v.created_at || null })),
    );
  }

  // A new version `msg` of the message `replaced` (its node, if on screen): the last of its
  // versions. False when this page cannot know the versions before it.
  function noteVersion(msg, replacedId, replaced) {
    const root = Number(msg.edit_of);
    const list = (state.versions.get(root) || []).slice();
    const add = (version) => {
      if (!list.some((v) => v.id === version.id)) list.push(version);
    };
    if (replaced) {
      const time = replaced.querySelector(".message__meta time");
      add({ id: replacedId, text: shownText(replaced), created_at: time ? time.getAttribute("datetime") : null });
    }
    add({ id: Number(msg.id), text: String(msg.text), created_at: msg.created_at || null });
    state.versions.set(root, list);
    return list.some((v) => v.id === root);
  }

  function refreshVersionSwitchers() {
    for (const node of el.log.querySelectorAll('.message[data-role="user"][data-message-id]')) {
      const list = state.versions.get(rootOf(node)) || [];
      const position = list.findIndex((v) => v.id === Number(node.dataset.messageId)) + 1;
      let box = node.querySelector(".message__switcher");
      if (list.length < 2 || position === 0 || node.dataset.status === "sending") {
        if (box) box.remove();
        continue;
      }
      if (!box) {
        box = buildSwitcher(true);
        node.querySelector(".message__actions").prepend(box);
      }
      box.querySelector(".message__switcher-count").textContent = `${position} / ${list.length}`;
      const [previous, next] = box.querySelectorAll(".message__switch");
      previous.disabled = position === 1 || turnBusy();
      next.disabled = position === list.length || turnBusy();
    }
  }

  function flipVersion(node, button) {
    const list = state.versions.get(rootOf(node)) || [];
    const index = list.findIndex((v) => v.id === Number(node.dataset.messageId));
    const target = index === -1 ? null : list[index + Number(button.dataset.step)];
    if (!target) return;
    if (!keep(target.id)) {
      showNotice("Not connected right now: try again once the connection is back.");
    }
  }

  // chat.branched (from any tab): another version is shown, with the turns that followed it.
  function onBranched(frame) {
    keepAnswered(frame.message_id);
    if (sameId(frame.conversation, state.conversation)) reloadLog();
  }

  // The "Edit" button of each saved message of the human's; none on one being sent, edited or
  // that failed, disabled while the cat answers (the server would refuse: busy).
  function refreshEditing() {
    for (const node of el.log.querySelectorAll('.message[data-role="user"]')) {
      const actions = node.querySelector(".message__actions");
      let button = actions.querySelector(".message__edit");
      const editable = Boolean(node.dataset.messageId) && state.conversation !== null && !state.terminal &&
        !["sending", "failed"].includes(node.dataset.status);
      if (!editable) {
        if (button) button.remove();
        continue;
      }
      if (!button) {
        button = document.createElement("button");
        button.type = "button";
        button.className = "button button--small message__edit";
        const label = document.createElement("span");
        label.textContent = "Edit";
        const rest = document.createElement("span");
        rest.className = "visually-hidden";
        rest.textContent = " message";
        button.append(label, rest); // named "Edit message"; shows "Edit"
        actions.append(button);
      }
      button.hidden = node.classList.contains("message--editing");
      button.disabled = turnBusy();
    }
  }

  // The inline editor, in place of the message's text: `draft` is what it starts with (the
  // message's text, or an edit the server refused, to try again).
  function openEditor(node, draft) {
    for (const open of el.log.querySelectorAll(".message--editing")) {
      if (open !== node) closeEditor(open);
    }
    const id = Number(node.dataset.messageId);
    if (!id) return;
    let form = node.querySelector(".message__editor");
    if (!form) {
      form = buildEditor(node, id);
      node.querySelector(".message__text").after(form);
    }
    node.classList.add("message--editing");
    node.querySelector(".message__text").hidden = true;
    const area = form.querySelector("textarea");
    area.value = draft ?? shownText(node);
    checkEditor(node);
    refreshEditing();
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
  }

  function buildEditor(node, id) {
    const form = document.createElement("form");
    form.className = "message__editor";
    form.noValidate = true;
    const label = document.createElement("label");
    label.className = "visually-hidden";
    label.htmlFor = `edit-${id}`;
    label.textContent = "Edit your message";
    const area = document.createElement("textarea");
    area.id = `edit-${id}`;
    area.className = "message__editor-input";
    area.rows = 2;
    area.maxLength = config.maxChars;
    area.setAttribute("aria-describedby", `edit-${id}-hint`);
    const hint = document.createElement("p");
    hint.className = "message__editor-hint";
    hint.id = `edit-${id}-hint`;
    hint.textContent = `Enter saves and sends it · Shift+Enter for a new line · Escape cancels. ${config.cat.name} answers it anew; what came after stays in the earlier version.`;
    const row = document.createElement("div");
    row.className = "message__editor-actions";
    const cancel = document.createElement("button");
    cancel.type = "button";
    cancel.className = "button button--small message__editor-cancel";
    cancel.textContent = "Cancel";
    const save = document.createElement("button");
    save.type = "submit";
    save.className = "button button--small button--primary message__editor-save";
    save.textContent = "Save & send";
    row.append(cancel, save);
    form.append(label, area, hint, row);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      saveEdit(node);
    });
    cancel.addEventListener("click", () => cancelEdit(node));
    area.addEventListener("input", () => checkEditor(node));
    area.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        saveEdit(node);
      } else if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation(); // the editor's, not the drawer's
        cancelEdit(node);
      }
    });
    return form;
  }

  // Unchanged or empty text cannot be saved; the box grows with the text.
  function checkEditor(node) {
    const form = node.querySelector(".message__editor");
    if (!form) return;
    const area = form.querySelector("textarea");
    const text = area.value.trim();
    form.querySelector(".message__editor-save").disabled =
      !text || text === shownText(node).trim() || text.length > config.maxChars;
    area.style.height = "auto";
    area.style.height = `${Math.min(area.scrollHeight, 240)}px`;
  }

  function closeEditor(node) {
    const form = node.querySelector(".message__editor");
    if (form) form.remove();
    node.classList.remove("message--editing");
    node.querySelector(".message__text").hidden = false;
  }

  function cancelEdit(node) {
    closeEditor(node);
    refreshEditing();
    const button = node.querySelector(".message__edit");
    if (button && !button.disabled) button.focus();
    else el.input.focus();
  }

  function saveEdit(node) {
    const form = node.querySelector(".message__editor");
    if (!form || state.conversation === null || state.terminal) return;
    const text = form.querySelector("textarea").value.trim();
    const before = shownText(node);
    if (!text || text === before.trim()) return;
    if (text.length > config.maxChars) {
      showNotice(`That message is ${text.length} characters; the limit is ${config.maxChars}.`);
      return;
    }
    if (napping()) {
      showNap();
      return;
    }
    if (turnBusy()) {
      showNotice(`${config.cat.name} is still answering: wait a moment, or press Stop.`);
      return;
    }
    closeEditor(node);
    // Shown as pending, with the new text, until chat.accepted (or put back as it was).
    editedTexts.set(node, before);
    node.dataset.status = "sending";
    setText(node, text, "sending");
    setNote(node, "sending…");
    state.pending.push({
      clientId: newClientId(),
      text,
      conversation: state.conversation,
      node,
      sent: false,
      editOf: Number(node.dataset.messageId),
    });
    showNotice("");
    updateComposer();
    el.input.focus({ preventScroll: true });
    flushPending();
  }

  // The server refused an edit (error frame): the message shows as it was, the edited text
  // waits in its editor (or in the composer, when that message has left the screen meanwhile).
  function editFailed(pending) {
    if (putBack(pending.node)) {
      openEditor(pending.node, pending.text);
    } else if (!el.input.value.trim()) {
      el.input.value = pending.text;
      autosize();
    }
  }

  // A message whose edit will not be saved shows its text as before; false when it left the
  // screen meanwhile.
  function putBack(node) {
    const before = editedTexts.get(node);
    editedTexts.delete(node);
    if (!node.isConnected || before === undefined) return false;
    node.dataset.status = "complete";
    setText(node, before, "complete");
    setNote(node, "");
    return true;
  }

  // chat.accepted of an edit (from any tab): the replaced version and every message after it
  // leave; the new version comes at the end, the last of its versions.
  function acceptEdit(msg, replacesId, pending) {
    if (pending) editedTexts.delete(pending.node);
    if (sameId(msg.conversation, state.conversation) && !findMessage(msg.id)) {
      const replaced = findMessage(replacesId);
      const known = noteVersion(msg, replacesId, replaced);
      if (replaced) keepScrolled(() => removeFrom(replaced));
      if (replaced && known) showMessage(msg);
      else reloadLog(); // this page did not show what it replaced: read the conversation again
    } else if (sameId(msg.conversation, state.conversation)) {
      showMessage(msg); // a repeated frame
    }
    bumpConversation(msg.conversation, msg.text);
    updateComposer();
  }

  // Remove `node` and every saved message after it (an unsent one of the composer's stays).
  function removeFrom(node) {
    const gone = [node];
    for (let next = node.nextElementSibling; next; next = next.nextElementSibling) {
      if (next.classList.contains("message") && next.dataset.messageId) gone.push(next);
    }
    for (const each of gone) {
      keepDraft(each);
      state.streams.delete(Number(each.dataset.messageId));
      cancelReplyRender(each);
      each.remove();
    }
  }

  // An edit in progress on a message that leaves the screen (another tab changed the
  // conversation): its text goes to the composer, unless that holds something already.
  function keepDraft(node) {
    const area = node.querySelector(".message__editor textarea");
    if (!area) return;
    const text = area.value.trim();
    if (!text || text === shownText(node).trim() || el.input.value.trim()) return;
    el.input.value = text;
    autosize();
    showNotice("That message changed in another tab: your edit is in the message box.");
  }

  // Read the conversation again from its page (server-rendered, escaped by Django; parsed
  // inert by DOMParser, no script runs) and show its log in place of ours. Unsent messages of
  // the composer stay; a focused switcher or an open editor is found again where it can be.
  let reloadSeq = 0;
  async function reloadLog() {
    if (state.conversation === null) return;
    const seq = ++reloadSeq;
    const conversation = state.conversation;
    let doc;
    try {
      const response = await fetch(conversationUrl(conversation), {
        credentials: "same-origin",
        headers: { Accept: "text/html" },
      });
      if (!response.ok) return;
      doc = new DOMParser().parseFromString(await response.text(), "text/html");
    } catch {
      return; // offline: the next hello resyncs
    }
    const fresh = doc.getElementById("message-log");
    if (seq !== reloadSeq || !fresh || !sameId(conversation, state.conversation)) return;
    const active = document.activeElement;
    const focusedNode = active && el.log.contains(active) ? active.closest(".message") : null;
    const focus = focusedNode
      ? { root: rootOf(focusedNode), step: active.dataset.step, edit: active.classList.contains("message__edit") }
      : null;
    const drafts = Array.from(el.log.querySelectorAll(".message--editing"), (node) => ({
      id: Number(node.dataset.messageId),
      text: node.querySelector(".message__editor textarea")?.value ?? "",
      node,
    }));
    const unsent = Array.from(el.log.querySelectorAll(".message:not([data-message-id])"));
    const nodes = Array.from(fresh.children, (node) => document.importNode(node, true));
    keepScrolled(() => {
      el.log.replaceChildren(...nodes, ...unsent);
      initLog();
    });
    for (const [id, stream] of Array.from(state.streams)) {
      const node = findMessage(id);
      if (!node) state.streams.delete(id);
      else {
        stream.node = node;
        if (stream.text) setText(node, stream.text, "streaming");
      }
    }
    for (const draft of drafts) {
      const node = findMessage(draft.id);
      if (node) openEditor(node, draft.text);
      else keepDraft(draft.node);
    }
    updateComposer();
    if (focus && !drafts.length) refocus(focus);
  }

  function refocus({ root, step, edit }) {
    const node = Array.from(el.log.querySelectorAll('.message[data-role="user"][data-message-id]')).find(
      (each) => rootOf(each) === root,
    );
    if (!node) return;
    const buttons = Array.from(node.querySelectorAll(".message__switch, .message__edit"));
    const wanted = buttons.find((b) => (edit ? b.classList.contains("message__edit") : b.dataset.step === step));
    const target = [wanted, ...buttons].find((b) => b && !b.disabled && !b.hidden);
    if (target) target.focus();
  }

  // Only the newest cat reply offers "Try again"/"Regenerate": regenerate answers the last turn.
  function refreshActions() {
    refreshSwitchers();
    refreshVersionSwitchers();
    refreshEditing();
    for (const button of el.log.querySelectorAll(".message__retry")) button.remove();
    if (state.conversation === null || isReplying()) return;
    const saved = el.log.querySelectorAll(".message[data-message-id]");
    const last = saved[saved.length - 1];
    if (!last || last.dataset.role !== "cat" || !FINAL_STATUSES.has(last.dataset.status)) return;
    const failed = last.dataset.status === "error" || last.dataset.status === "interrupted";
    const button = document.createElement("button");
    button.type = "button";
    button.className = `button button--small message__retry${failed ? " button--primary" : ""}`;
    button.textContent = failed ? "Try again" : "Regenerate";
    button.addEventListener("click", () => regenerate(button));
    last.querySelector(".message__actions").append(button);
  }

  // --- composer and sending ------------------------------------------------------------------

  function isReplying() {
    return state.streams.size > 0;
  }

  // Between chat.accepted and chat.started the cat is about to answer: editing or switching
  // versions then would be refused (busy) or race the reply, so they wait for it too. Until
  // the reply starts, or something ends the turn, or a few seconds pass (a resend of a message
  // answered already gets no new reply).
  let answerSoonTimer = null;
  function answerSoon(soon) {
    window.clearTimeout(answerSoonTimer);
    answerSoonTimer = soon
      ? window.setTimeout(() => {
        answerSoonTimer = null;
        updateComposer();
      }, 8000)
      : null;
  }

  function turnBusy() {
    return isReplying() || answerSoonTimer !== null;
  }

  function updateComposer() {
    const replying = isReplying();
    el.stop.hidden = !replying;
    el.stop.disabled = false;
    el.send.disabled = replying || state.terminal;
    el.input.disabled = state.terminal;
    el.typing.hidden = !replying;
    refreshActions();
    updateCare();
    applyNap();
  }

  function showNotice(text) {
    el.notice.textContent = text;
    el.notice.hidden = !text;
  }

  // `rate_limited` with `retry_after` (Mistral's 429, or too many messages a minute): the cat
  // naps, the notice counts the seconds down, and sending and "Try again" wait for zero.
  function napping() {
    return state.napUntil > Date.now();
  }

  function napSecondsLeft() {
    return Math.max(0, Math.ceil((state.napUntil - Date.now()) / 1000));
  }

  function startNap(seconds) {
    state.napUntil = Math.max(state.napUntil, Date.now() + seconds * 1000);
    showNap();
    updateComposer();
  }

  function showNap() {
    window.clearInterval(state.napTimer);
    const left = napSecondsLeft();
    // The number changes every second; screen readers hear the sentence once (role="alert"),
    // not a number a second.
    const count = document.createElement("span");
    count.setAttribute("aria-hidden", "true");
    count.textContent = `${left} s`;
    const spoken = document.createElement("span");
    spoken.className = "visually-hidden";
    spoken.textContent = `${left} seconds`;
    el.notice.replaceChildren(`${config.cat.name} is napping… try again in `, count, spoken);
    el.notice.hidden = false;
    state.napTimer = window.setInterval(() => {
      const now = napSecondsLeft();
      if (now > 0) {
        count.textContent = `${now} s`;
        return;
      }
      window.clearInterval(state.napTimer);
      state.napTimer = null;
      // Another notice may have taken its place meanwhile: leave that one be.
      if (el.notice.contains(count)) showNotice(`${config.cat.name} is awake again: try again.`);
      updateComposer();
    }, 1000);
  }

  function applyNap() {
    const asleep = napping();
    if (asleep) el.send.disabled = true;
    for (const button of el.log.querySelectorAll(".message__retry, .message__resend")) {
      button.disabled = asleep;
    }
  }

  function submit() {
    const text = el.input.value.trim();
    if (!text || state.terminal) return;
    if (napping()) {
      showNap();
      return;
    }
    if (isReplying()) {
      showNotice(`${config.cat.name} is still answering: wait a moment, or press Stop.`);
      return;
    }
    if (text.length > config.maxChars) {
      showNotice(`That message is ${text.length} characters; the limit is ${config.maxChars}.`);
      return;
    }
    const clientId = newClientId();
    const node = buildMessage("user");
    node.dataset.clientId = clientId;
    node.dataset.status = "sending";
    setText(node, text, "sending");
    setNote(node, "sending…");
    setTime(node, new Date().toISOString());
    keepScrolled(() => {
      removeEmptyPlaceholder();
      el.log.append(node);
    }, true);
    state.pending.push({ clientId, text, conversation: state.conversation, node, sent: false });
    el.input.value = "";
    autosize();
    showNotice("");
    flushPending();
  }

  // Send what is waiting, in order. Into a conversation that does not exist yet only the first
  // goes: the rest wait for its id, or each would start a conversation of its own.
  function flushPending() {
    if (!state.open) return;
    let startingNew = state.pending.some((p) => p.sent && p.conversation === null);
    for (const p of state.pending) {
      if (p.sent) continue;
      if (p.conversation === null) {
        if (startingNew) continue;
        startingNew = true;
      }
      const frame = { type: "chat.send", conversation: p.conversation, text: p.text, client_id: p.clientId };
      if (p.editOf) frame.edit_of = p.editOf; // an edit of that message (editing, below)
      send(frame);
      p.sent = true;
    }
  }

  function takePending(clientId) {
    const index = state.pending.findIndex((p) => p.clientId === clientId);
    return index === -1 ? null : state.pending.splice(index, 1)[0];
  }

  function markFailed(pending, code) {
    const { node } = pending;
    node.dataset.status = "failed";
    setNote(node, "Not sent.");
    if (FINAL_SEND_ERRORS.has(code)) return;
    const button = document.createElement("button");
    button.type = "button";
    button.className = "button button--small message__resend";
    button.textContent = "Send again";
    button.addEventListener("click", () => {
      button.remove();
      node.dataset.status = "sending";
      setNote(node, "sending…");
      // Same client_id: if the first attempt did get saved after all, this is not a duplicate.
      state.pending.push({ ...pending, sent: false });
      flushPending();
    });
    node.querySelector(".message__actions").append(button);
  }

  function stop() {
    if (state.conversation === null) return;
    if (send({ type: "chat.stop", conversation: state.conversation })) el.stop.disabled = true;
  }

  function regenerate(button) {
    if (state.conversation === null) return;
    if (!send({ type: "chat.regenerate", conversation: state.conversation })) {
      showNotice("Not connected right now: try again once the connection is back.");
      return;
    }
    button.disabled = true;
    showNotice("");
  }

  function autosize() {
    el.input.style.height = "auto";
    el.input.style.height = `${Math.min(el.input.scrollHeight, 200)}px`;
  }

  // --- the sidebar ---------------------------------------------------------------------------

  function conversationItem(id) {
    return el.sidebar
      ? el.sidebar.querySelector(`[data-conversation-id="${Number(id)}"]`)
      : null;
  }

  // A conversation in the list, as the server renders it (templates/cats/chat.html): its link
  // (title, time) and its menu (a rename form and a delete link that work without JavaScript;
  // with it, `manageConversations` below takes their submit and click).
  function buildConversationItem(id, title, iso = new Date().toISOString()) {
    const pk = String(Number(id));
    const item = document.createElement("li");
    item.className = "conversation-list__item";
    item.dataset.conversationId = pk;
    const link = document.createElement("a");
    link.href = conversationUrl(Number(id));
    const label = document.createElement("span");
    label.className = "conversation-list__title";
    label.textContent = title;
    const time = document.createElement("time");
    time.className = "conversation-list__time";
    time.dateTime = iso;
    time.textContent = clockTime(iso);
    link.append(label, time);

    const menu = document.createElement("details");
    menu.className = "conversation-menu";
    const toggle = document.createElement("summary");
    toggle.className = "conversation-menu__toggle";
    toggle.setAttribute("aria-label", `Rename or delete “${title}”`);
    const dots = document.createElement("span");
    dots.setAttribute("aria-hidden", "true");
    dots.textContent = "⋯";
    toggle.append(dots);
    const body = document.createElement("div");
    body.className = "conversation-menu__body";
    const form = document.createElement("form");
    form.className = "conversation-rename";
    form.method = "post";
    form.action = `${config.pageUrl}conversations/${pk}/rename/`;
    const token = document.createElement("input");
    token.type = "hidden";
    token.name = "csrfmiddlewaretoken";
    token.value = csrfToken();
    const fieldLabel = document.createElement("label");
    fieldLabel.htmlFor = `rename-${pk}`;
    fieldLabel.textContent = "Title";
    const field = document.createElement("input");
    field.type = "text";
    field.id = `rename-${pk}`;
    field.name = "title";
    field.maxLength = 120;
    field.required = true;
    field.value = title;
    const save = document.createElement("button");
    save.type = "submit";
    save.className = "button button--small";
    save.textContent = "Rename";
    form.append(token, fieldLabel, field, save);
    const remove = document.createElement("a");
    remove.className = "conversation-menu__delete";
    remove.href = `${config.pageUrl}conversations/${pk}/delete/`;
    remove.textContent = "Delete…";
    body.append(form, remove);
    menu.append(toggle, body);

    item.append(link, menu);
    return item;
  }

  // Activity in a conversation: move it to the top (of today); mark it unread unless it is on
  // screen.
  function bumpConversation(id, title) {
    if (!el.sidebar || id === null || id === undefined) return null;
    let item = conversationItem(id);
    if (!item) item = buildConversationItem(id, titleFrom(title));
    const empty = el.sidebar.querySelector(".conversation-list__empty");
    if (empty) empty.remove();
    const time = item.querySelector(".conversation-list__time");
    if (time) time.dateTime = new Date().toISOString();
    if (firstConversation() !== item) el.sidebar.prepend(item);
    item.classList.toggle("is-unread", !sameId(id, state.conversation));
    groupConversations();
    return item;
  }

  function firstConversation() {
    return el.sidebar ? el.sidebar.querySelector(".conversation-list__item") : null;
  }

  // --- conversations: days, rename, delete, search ---------------------------------------------

  const WEEKDAY_FORMAT = new Intl.DateTimeFormat("en-GB", { weekday: "long" });
  const DATE_FORMAT = new Intl.DateTimeFormat("en-GB", { day: "numeric", month: "long" });
  const CLOCK_FORMAT = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });

  function startOfDay(date) {
    return new Date(date.getFullYear(), date.getMonth(), date.getDate());
  }

  // The heading of a day in the list, seen from `now` (this browser's time zone): "Today",
  // "Yesterday", a weekday within the week, then a date. Same as cats/views.py `day_label`.
  function dayLabel(iso, now = new Date()) {
    const date = new Date(iso);
    if (Number.isNaN(date.getTime())) return "Today";
    const days = Math.round((startOfDay(now) - startOfDay(date)) / 86400000);
    if (days <= 0) return "Today";
    if (days === 1) return "Yesterday";
    if (days < 7) return WEEKDAY_FORMAT.format(date);
    const day = DATE_FORMAT.format(date);
    return date.getFullYear() === now.getFullYear() ? day : `${day} ${date.getFullYear()}`;
  }

  // "14:05": the day is in the heading above.
  function clockTime(iso) {
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? "" : CLOCK_FORMAT.format(date);
  }

  // Headings between the days of the list (the server drew them in its time zone; this is the
  // reader's), and each time as a clock time.
  function groupConversations() {
    if (!el.sidebar) return;
    for (const heading of el.sidebar.querySelectorAll(".conversation-list__day")) heading.remove();
    const now = new Date();
    let last = null;
    for (const item of el.sidebar.querySelectorAll(".conversation-list__item")) {
      const time = item.querySelector(".conversation-list__time");
      const iso = time && time.dateTime ? time.dateTime : now.toISOString();
      if (time) time.textContent = clockTime(iso);
      const label = dayLabel(iso, now);
      if (label !== last) {
        const heading = document.createElement("li");
        heading.className = "conversation-list__day";
        const title = document.createElement("h3");
        title.className = "conversation-list__day-title";
        title.textContent = label;
        heading.append(title);
        item.before(heading);
        last = label;
      }
    }
  }

  function csrfToken() {
    const field = document.querySelector("input[name=csrfmiddlewaretoken]");
    if (field && field.value) return field.value;
    const cookie = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
    return cookie ? decodeURIComponent(cookie.slice("csrftoken=".length)) : "";
  }

  // The REST API with this page's session (and its CSRF token for writes).
  function api(method, url, body) {
    const headers = { Accept: "application/json", "X-CSRFToken": csrfToken() };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch(url, {
      method,
      credentials: "same-origin",
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  }

  function conversationApiUrl(id) {
    return config.conversationApi.replace(/\/0\/$/u, `/${Number(id)}/`);
  }

  function announceList(text) {
    const status = $("conversation-list-status");
    if (!status) return;
    status.textContent = "";
    window.setTimeout(() => { status.textContent = text; }, 50);
  }

  async function renameConversation(form) {
    const item = form.closest(".conversation-list__item");
    const field = form.querySelector("input[name=title]");
    const title = field.value.trim();
    if (!item || !title) {
      field.reportValidity();
      return;
    }
    let response;
    try {
      response = await api("PATCH", conversationApiUrl(item.dataset.conversationId), { title });
    } catch {
      announceList("Could not rename: no connection.");
      return;
    }
    if (!response.ok) {
      if (response.status === 404) window.location.reload();
      announceList("Could not rename: a title needs 1 to 120 characters.");
      return;
    }
    const saved = await response.json();
    item.querySelector(".conversation-list__title").textContent = saved.title;
    item.querySelector(".conversation-menu__toggle").setAttribute("aria-label", `Rename or delete “${saved.title}”`);
    field.value = saved.title;
    const time = item.querySelector(".conversation-list__time");
    if (time) time.dateTime = saved.updated_at;
    const menu = item.querySelector(".conversation-menu");
    menu.open = false;
    el.sidebar.prepend(item); // a rename is activity: the server lists it first too
    groupConversations();
    menu.querySelector("summary").focus();
    announceList(`Renamed to “${saved.title}”.`);
  }

  function confirmDelete(title) {
    const dialog = $("conversation-delete-dialog");
    if (!dialog || typeof dialog.showModal !== "function") return Promise.resolve(null);
    $("conversation-delete-name").textContent = title;
    dialog.returnValue = "";
    return new Promise((resolve) => {
      dialog.addEventListener("close", () => resolve(dialog.returnValue === "delete"), { once: true });
      dialog.showModal();
    });
  }

  async function deleteConversation(link) {
    const item = link.closest(".conversation-list__item");
    const title = item.querySelector(".conversation-list__title").textContent;
    const toggle = item.querySelector(".conversation-menu__toggle");
    item.querySelector(".conversation-menu").open = false;
    const confirmed = await confirmDelete(title);
    if (confirmed === null) {
      window.location.assign(link.href); // no <dialog>: the server's confirmation page
      return;
    }
    if (!confirmed) {
      toggle.focus();
      return;
    }
    let response;
    try {
      response = await api("DELETE", conversationApiUrl(item.dataset.conversationId));
    } catch {
      announceList("Could not delete: no connection.");
      toggle.focus();
      return;
    }
    if (!response.ok && response.status !== 404) {
      announceList("Could not delete the conversation.");
      toggle.focus();
      return;
    }
    if (sameId(item.dataset.conversationId, state.conversation)) {
      window.location.assign(config.pageUrl); // it was on screen: open the newest one left
      return;
    }
    const items = Array.from(el.sidebar.querySelectorAll(".conversation-list__item"));
    const next = items[items.indexOf(item) + 1] || items[items.indexOf(item) - 1];
    item.remove();
    for (const hit of document.querySelectorAll(`#conversation-results-list [data-conversation-id="${Number(item.dataset.conversationId)}"]`)) hit.remove();
    groupConversations();
    if (!firstConversation()) {
      const empty = document.createElement("li");
      empty.className = "conversation-list__empty";
      empty.textContent = "No conversations yet.";
      el.sidebar.append(empty);
    }
    const focusTo = next ? next.querySelector("a") : $("conversation-search-input");
    if (focusTo) focusTo.focus();
    announceList(`Deleted “${title}”.`);
  }

  function showResults(q, hits) {
    const section = $("conversation-results");
    const list = $("conversation-results-list");
    const status = $("conversation-results-status");
    list.replaceChildren(
      ...hits.map((hit) => {
        const item = document.createElement("li");
        item.className = "conversation-results__item";
        item.dataset.conversationId = String(Number(hit.id));
        const link = document.createElement("a");
        link.href = conversationUrl(Number(hit.id)) + (hit.message ? `#message-${Number(hit.message)}` : "");
        const title = document.createElement("span");
        title.className = "conversation-list__title";
        title.textContent = hit.title || "New conversation";
        const text = document.createElement("span");
        text.className = "conversation-results__snippet";
        const line = String(hit.snippet || "").split(/\s+/u).filter(Boolean).join(" ");
        text.textContent = line.length > 120 ? `${line.slice(0, 119)}…` : line;
        link.append(title, text);
        item.append(link);
        return item;
      }),
    );
    const count = hits.length;
    status.textContent = `${count} conversation${count === 1 ? "" : "s"} for “${q}”`;
    section.hidden = false;
  }

  function clearResults() {
    const section = $("conversation-results");
    if (section) section.hidden = true;
    const list = $("conversation-results-list");
    if (list) list.replaceChildren();
  }

  let searchSeq = 0;
  async function searchConversations(q) {
    const seq = ++searchSeq;
    if (!q) {
      clearResults();
      return;
    }
    let response;
    try {
      response = await api("GET", `${config.conversationsApi}?q=${encodeURIComponent(q)}`);
    } catch {
      return;
    }
    if (seq !== searchSeq || !response.ok) return;
    const body = await response.json();
    if (seq === searchSeq) showResults(q, body.results || []);
  }

  function manageConversations() {
    const search = $("conversation-search");
    const searchInput = $("conversation-search-input");
    if (search && searchInput) {
      let timer = null;
      search.addEventListener("submit", (event) => {
        event.preventDefault();
        window.clearTimeout(timer);
        searchConversations(searchInput.value.trim());
      });
      searchInput.addEventListener("input", () => {
        window.clearTimeout(timer);
        const q = searchInput.value.trim();
        timer = window.setTimeout(() => searchConversations(q), q ? 350 : 0);
      });
      searchInput.addEventListener("keydown", (event) => {
        if (event.key === "Escape" && searchInput.value) {
          event.stopPropagation(); // clears the search; a second Escape is the drawer's
          searchInput.value = "";
          searchConversations("");
        }
      });
    }
    const clear = $("conversation-results-clear");
    if (clear) {
      clear.addEventListener("click", (event) => {
        event.preventDefault();
        if (searchInput) {
          searchInput.value = "";
          searchInput.focus();
        }
        searchConversations("");
        if (new URLSearchParams(window.location.search).has("q")) {
          window.history.replaceState(null, "", clear.href);
        }
      });
    }
    if (!el.sidebar) return;
    el.sidebar.addEventListener("submit", (event) => {
      const form = event.target.closest(".conversation-rename");
      if (!form) return;
      event.preventDefault();
      renameConversation(form);
    });
    el.sidebar.addEventListener("click", (event) => {
      const link = event.target.closest(".conversation-menu__delete");
      if (!link) return;
      event.preventDefault();
      deleteConversation(link);
    });
    el.sidebar.addEventListener("keydown", (event) => {
      if (event.key !== "Escape") return;
      const menu = event.target.closest(".conversation-menu[open]");
      if (!menu) return;
      event.stopPropagation(); // closes the menu, not the drawer
      menu.open = false;
      menu.querySelector("summary").focus();
    });
    // One menu open at a time.
    el.sidebar.addEventListener("toggle", (event) => {
      if (!event.target.open) return;
      for (const other of el.sidebar.querySelectorAll(".conversation-menu[open]")) {
        if (other !== event.target) other.open = false;
      }
    }, true);
    const dialog = $("conversation-delete-dialog");
    if (dialog) {
      // Escape closes the dialog (natively), not the drawer behind it.
      dialog.addEventListener("keydown", (event) => {
        if (event.key === "Escape") event.stopPropagation();
      });
    }
    groupConversations();
  }

  manageConversations();

  function adoptConversation(id, text) {
    state.conversation = Number(id);
    // The address now names the conversation, so a reload comes back to it.
    window.history.replaceState(null, "", conversationUrl(state.conversation));
    const item = bumpConversation(state.conversation, text);
    for (const link of document.querySelectorAll(".chat__sidebar [aria-current]")) {
      link.removeAttribute("aria-current");
    }
    if (item) item.querySelector("a").setAttribute("aria-current", "page");
    for (const p of state.pending) if (p.conversation === null) p.conversation = state.conversation;
  }

  // --- server frames -------------------------------------------------------------------------

  function onHello(frame) {
    state.open = true;
    state.attempt = 0;
    setStatus("");
    if (frame.llm) el.banner.hidden = frame.llm !== "offline" || bannerDismissed();
    if (frame.state) showState(frame.state);

    const inFlight = new Set();
    for (const item of frame.in_flight || []) {
      const msg = item.message || item;
      const seq = Number(item.seq ?? msg.seq ?? 0);
      if (!sameId(msg.conversation, state.conversation)) {
        bumpConversation(msg.conversation, null);
        continue;
      }
      inFlight.add(Number(msg.id));
      const node = showMessage(msg);
      state.streams.set(Number(msg.id), { seq, text: msg.text || "", node });
    }
    // A reply shown as streaming that is no longer in flight ended while we were not listening.
    let stale = false;
    for (const id of Array.from(state.streams.keys())) {
      if (!inFlight.has(id)) state.streams.delete(id);
    }
    for (const node of el.log.querySelectorAll('.message[data-status="streaming"]')) {
      if (!inFlight.has(Number(node.dataset.messageId))) stale = true;
    }
    if (stale || state.everConnected) resync();
    state.everConnected = true;
    updateComposer();
    flushPending();
  }

  function onAccepted(frame) {
    const msg = frame.message;
    const pending = takePending(frame.client_id);
    if (msg.kept === false) {
      // A resend of a message no longer shown (edited, or in a branch switched away from since):
      // saved long ago, answered by nothing now. The page shows the conversation as it is.
      if (pending && pending.editOf) putBack(pending.node);
      else if (pending) pending.node.remove();
      if (sameId(msg.conversation, state.conversation)) reloadLog();
      updateComposer();
      return;
    }
    if (sameId(msg.conversation, state.conversation) || (pending && state.conversation === null)) {
      answerSoon(true);
    }
    // An edit. A resend of ours (same client_id, after a reconnect) comes without `replaces`:
    // we know what it replaced.
    const replaces = frame.replaces ?? (pending && pending.editOf) ?? null;
    if (replaces !== null) {
      acceptEdit(msg, Number(replaces), pending);
      return;
    }
    if (pending && pending.conversation === null && state.conversation === null) {
      adoptConversation(msg.conversation, msg.text);
    }
    if (pending) {
      const existing = findMessage(msg.id);
      if (existing && existing !== pending.node) pending.node.remove();
      else if (!existing) {
        pending.node.dataset.messageId = String(Number(msg.id));
        pending.node.id = `message-${Number(msg.id)}`;
      }
      applyMessage(existing || pending.node, msg);
      flushPending(); // messages that waited for the new conversation's id
    } else if (sameId(msg.conversation, state.conversation)) {
      showMessage(msg); // sent from another tab
    }
    bumpConversation(msg.conversation, msg.text);
    updateComposer();
  }

  function onStarted(frame) {
    const msg = frame.message;
    for (const item of Array.isArray(frame.remembered) ? frame.remembered : []) {
      if (item.kind === "episode") rememberEpisode(item);
      else state.remembered.set(Number(item.id), String(item.text));
    }
    if (!sameId(msg.conversation, state.conversation)) {
      bumpConversation(msg.conversation, null);
      return;
    }
    answerSoon(false);
    const node = showMessage(msg);
    const known = state.streams.get(Number(msg.id));
    if (!known) state.streams.set(Number(msg.id), { seq: 0, text: msg.text || "", node });
    showNotice("");
    updateComposer();
  }

  function onDelta(frame) {
    if (!sameId(frame.conversation, state.conversation)) {
      bumpConversation(frame.conversation, null);
      return;
    }
    const id = Number(frame.message_id);
    const seq = Number(frame.seq);
    let stream = state.streams.get(id);
    if (!stream) {
      const node = findMessage(id);
      if (node && FINAL_STATUSES.has(node.dataset.status)) return; // already finished here
      if (seq !== 1) {
        reconnectForSnapshot(); // we missed its start
        return;
      }
      const created = showMessage({
        id, conversation: frame.conversation, role: "cat", status: "streaming", text: "",
      });
      stream = { seq: 0, text: "", node: created };
      state.streams.set(id, stream);
      updateComposer();
    }
    if (seq <= stream.seq) return; // already included (a snapshot or a duplicate)
    if (seq > stream.seq + 1) {
      reconnectForSnapshot(); // frames were lost: hello.in_flight has the text so far
      return;
    }
    stream.seq = seq;
    stream.text += frame.text;
    keepScrolled(() => setText(stream.node, stream.text, "streaming"));
  }

  function onDone(frame) {
    const msg = frame.message;
    if (!sameId(msg.conversation, state.conversation)) {
      bumpConversation(msg.conversation, null);
      return;
    }
    state.streams.delete(Number(msg.id));
    answerSoon(false);
    showMessage(msg);
    updateComposer();
  }

  function describeError(frame) {
    const detail = frame.detail || "Something went wrong.";
    if (frame.retry_after) return `${detail} (try again in ${frame.retry_after} s)`;
    return detail;
  }

  function onError(frame) {
    if (state.carePending !== null && !frame.client_id && frame.conversation === undefined) {
      careDone(); // e.g. bad_frame for the action just sent
    }
    if (keepFailed(frame)) return;
    // A reply refused before it began (busy, conflict): the cat will not answer after all.
    if (sameId(frame.conversation, state.conversation)) answerSoon(false);
    if (frame.client_id) {
      const pending = takePending(frame.client_id);
      if (pending && pending.editOf) editFailed(pending);
      else if (pending) markFailed(pending, frame.code);
    }
    const elsewhere =
      frame.conversation !== undefined &&
      frame.conversation !== null &&
      !sameId(frame.conversation, state.conversation) &&
      !frame.client_id;
    if (elsewhere) {
      bumpConversation(frame.conversation, null);
      return;
    }
    if (frame.code === "rate_limited" && Number(frame.retry_after) > 0) {
      startNap(Number(frame.retry_after));
      return;
    }
    showNotice(describeError(frame));
    updateComposer();
  }

  // --- vitals, mood and care -----------------------------------------------------------------

  function showState(catState) {
    if (!el.vitals || !catState || typeof catState !== "object") return;
    for (const meter of el.meters) {
      const raw = Number(catState[meter.dataset.vital]);
      if (!Number.isFinite(raw)) continue;
      const value = Math.min(100, Math.max(0, Math.round(raw)));
      meter.value = value;
      meter.setAttribute("value", String(value));
      meter.textContent = `${value} of 100`;
      meter.setAttribute("aria-label", `${meter.dataset.label} ${value} of 100${meter.dataset.scale || ""}`);
      const shown = $(`${meter.id}-value`);
      if (shown) shown.textContent = String(value);
    }
    const mood = typeof catState.mood === "string" ? catState.mood : "";
    const asleep = catState.asleep === true;
    const name = config.cat.name;
    if (mood || asleep) {
      el.figure.dataset.mood = MOODS.has(mood) ? mood : "content";
      el.figure.dataset.asleep = String(asleep);
      el.figure.setAttribute("aria-label", asleep ? `${name} is asleep` : `${name} looks ${mood}`);
      el.moodText.textContent = asleep ? `${name} is asleep` : `${name} is ${mood}`;
      el.moodHint.textContent = MOOD_HINTS[asleep ? "asleep" : mood] || "";
    }
    showSleep(asleep ? catState.asleep_until : null);
  }

  function showSleep(until) {
    window.clearTimeout(state.wakeTimer);
    state.wakeTimer = null;
    const wakes = until ? new Date(until) : null;
    if (!wakes || Number.isNaN(wakes.getTime())) {
      el.sleepNote.hidden = true;
      return;
    }
    el.sleepUntil.dateTime = until;
    el.sleepUntil.textContent = formatTime(until);
    el.sleepNote.hidden = false;
    // When the nap ends the server sends nothing (vitals are computed lazily): take a fresh
    // snapshot then, so the page does not show a sleeping cat that is awake.
    const delay = wakes.getTime() - Date.now() + 1500;
    if (delay < 2 ** 31 - 1) {
      state.wakeTimer = window.setTimeout(() => {
        if (state.open) reconnectForSnapshot();
      }, Math.max(delay, 1000));
    }
  }

  // The cat's words may hold *actions*: shown in italics, built as elements (never as HTML).
  function catWords(text) {
    const nodes = [];
    String(text).split(/(\*[^*\n]+\*)/).forEach((part) => {
      if (!part) return;
      if (/^\*[^*\n]+\*$/.test(part)) {
        const em = document.createElement("em");
        em.textContent = part; // the stars stay: they read as an action, as in the log
        nodes.push(em);
      } else {
        nodes.push(document.createTextNode(part));
      }
    });
    return nodes;
  }

  function showCare(care) {
    const accepted = care.accepted === true;
    const fallback = accepted ? "*purrs*" : "*looks away*";
    const name = document.createElement("strong");
    name.textContent = `${config.cat.name}: `;
    el.careStatus.replaceChildren(name, ...catWords(care.message || fallback));
    el.careStatus.dataset.accepted = String(accepted);
    el.careStatus.dataset.action = String(care.action || "");
    window.clearTimeout(state.careStatusTimer);
    state.careStatusTimer = window.setTimeout(() => {
      el.careStatus.replaceChildren();
      delete el.careStatus.dataset.accepted;
    }, CARE_STATUS_MS);
  }

  function careDone() {
    window.clearTimeout(state.careTimer);
    state.careTimer = null;
    state.carePending = null;
    updateCare();
  }

  function onCatState(frame) {
    showState(frame.state);
    if (frame.care && typeof frame.care === "object") {
      showCare(frame.care);
      // Every tab of the owner hears every answer; ours is the one about what we asked.
      if (frame.care.action === state.carePending) careDone();
    }
  }

  function updateCare() {
    const usable = state.open && !state.terminal && state.carePending === null;
    for (const button of el.careButtons) {
      button.disabled = !usable;
      button.toggleAttribute("aria-busy", button.dataset.action === state.carePending);
    }
  }

  function care(action) {
    if (state.carePending !== null) return;
    if (!send({ type: "cat.action", action })) {
      updateCare();
      return;
    }
    state.carePending = action;
    // The answer comes as cat.state; should it be lost, do not keep the buttons locked.
    state.careTimer = window.setTimeout(careDone, CARE_ANSWER_MS);
    updateCare();
  }

  function setVitalsCollapsed(collapsed) {
    if (!el.vitals) return;
    el.vitals.classList.toggle("vitals--collapsed", collapsed);
    el.vitalsToggle.setAttribute("aria-expanded", String(!collapsed));
  }

  function handle(frame) {
    switch (frame.type) {
      case "hello": return onHello(frame);
      case "chat.accepted": return onAccepted(frame);
      case "chat.started": return onStarted(frame);
      case "chat.delta": return onDelta(frame);
      case "chat.done": return onDone(frame);
      case "chat.kept": return onKept(frame);
      case "chat.branched": return onBranched(frame);
      case "error": return onError(frame);
      case "cat.state": return onCatState(frame);
      case "memory.changed": return onMemoryChanged(frame);
      default: return undefined; // pong, and types newer than this page
    }
  }

  // After missing frames, re-read the conversation as the server has it. Text is read from the
  // server-rendered page (escaped by Django) with textContent and re-inserted the same way.
  async function resync() {
    if (state.conversation === null) return;
    const url = conversationUrl(state.conversation);
    let doc;
    try {
      const response = await fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } });
      if (!response.ok) return;
      doc = new DOMParser().parseFromString(await response.text(), "text/html");
    } catch {
      return; // offline again; the next hello retries
    }
    for (const node of doc.querySelectorAll("#message-log .message[data-message-id]")) {
      const msg = {
        id: Number(node.dataset.messageId),
        role: node.dataset.role,
        status: node.dataset.status,
        client_id: node.dataset.clientId || null,
        reply_to: node.dataset.replyTo ? Number(node.dataset.replyTo) : null,
        edit_of: node.dataset.editOf ? Number(node.dataset.editOf) : null,
        text: node.querySelector(".message__text")?.textContent ?? "",
        created_at: node.querySelector(".message__meta time")?.getAttribute("datetime") || null,
        memories_used: [],
        episodes_used: [],
      };
      for (const receipt of node.querySelectorAll(".memory-receipt")) {
        state.remembered.set(Number(receipt.dataset.memoryId), receipt.textContent);
        msg.memories_used.push(Number(receipt.dataset.memoryId));
      }
      for (const receipt of node.querySelectorAll(".episode-receipt")) {
        learnEpisode(receipt);
        msg.episodes_used.push(Number(receipt.dataset.episodeId));
      }
      learnAlternatives(node);
      learnVersions(node);
      const seq = Number(node.dataset.seq || 0);
      const live = state.streams.get(msg.id);
      if (msg.status === "streaming") {
        if (live && live.seq >= seq) continue; // our live copy is newer than the saved one
        const shown = showMessage(msg);
        state.streams.set(msg.id, { seq, text: msg.text, node: shown });
      } else {
        if (live) state.streams.delete(msg.id);
        showMessage(msg);
      }
    }
    dropUnlisted(doc);
    updateComposer();
  }

  // The saved messages on screen that the server no longer shows (an edit or a switch of
  // versions hid them while we were not listening). Only within what it listed: before its
  // oldest when it listed a window of the history, and not after its newest (those came since).
  function dropUnlisted(doc) {
    const listed = Array.from(
      doc.querySelectorAll("#message-log .message[data-message-id]"),
      (node) => Number(node.dataset.messageId),
    );
    if (!listed.length) return;
    const keep = new Set(listed);
    const high = Math.max(...listed);
    const low = listed.length < (config.historyMessages || Infinity) ? -Infinity : Math.min(...listed);
    for (const node of el.log.querySelectorAll(".message[data-message-id]")) {
      const id = Number(node.dataset.messageId);
      if (id > low && id < high && !keep.has(id)) {
        state.streams.delete(id);
        node.remove();
      }
    }
  }

  // --- the socket ----------------------------------------------------------------------------

  function send(frame) {
    if (!state.socket || !state.open) return false;
    state.socket.send(JSON.stringify(frame));
    return true;
  }

  function setStatus(text, link) {
    el.status.replaceChildren();
    if (text) el.status.append(text);
    if (link) {
      const a = document.createElement("a");
      a.href = link.href;
      a.textContent = link.text;
      el.status.append(" ", a);
    }
    el.status.hidden = !text;
  }

  function connect() {
    window.clearTimeout(state.reconnectTimer);
    state.reconnectTimer = null;
    if (state.terminal) return;
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const socket = new WebSocket(`${scheme}//${window.location.host}${config.wsPath}`);
    state.socket = socket;
    state.open = false;
    setStatus(state.everConnected ? "Reconnecting…" : "Connecting…");
    socket.addEventListener("message", (event) => {
      if (socket !== state.socket) return;
      let frame;
      try {
        frame = JSON.parse(event.data);
      } catch {
        return;
      }
      if (frame && typeof frame.type === "string") handle(frame);
    });
    socket.addEventListener("close", (event) => {
      if (socket === state.socket) onClose(event);
    });
  }

  function onClose(event) {
    state.socket = null;
    state.open = false;
    for (const p of state.pending) p.sent = false; // unconfirmed: resend after reconnecting
    window.clearTimeout(state.careTimer);
    state.carePending = null; // its answer, if any, went to the closed socket
    updateCare();
    if (event.code === CLOSE_UNAUTHENTICATED) {
      const next = encodeURIComponent(window.location.pathname + window.location.search);
      return terminal("You are logged out: please log in to keep chatting.", {
        href: `${config.loginUrl}?next=${next}`,
        text: "Log in",
      });
    }
    if (event.code === CLOSE_NOT_FOUND) {
      return terminal("Cat not found: it may have been rehomed (deleted), or it is not yours.");
    }
    if (state.leaving) return undefined;
    if (state.resyncNow) {
      state.resyncNow = false;
      connect();
      return undefined;
    }
    return scheduleReconnect();
  }

  function terminal(text, link) {
    state.terminal = true;
    setStatus(text, link);
    showNotice(text);
    updateComposer();
  }

  function scheduleReconnect() {
    // Exponential backoff with jitter, so a restarted server is not hit by every tab at once.
    const ceiling = Math.min(15000, 500 * 2 ** state.attempt);
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    state.attempt += 1;
    const waiting = state.pending.length ? " Your messages will be sent when it is back." : "";
    setStatus(`Connection lost: reconnecting in ${Math.ceil(delay / 1000)} s.${waiting}`);
    state.reconnectTimer = window.setTimeout(connect, delay);
  }

  function reconnectForSnapshot() {
    if (!state.socket) return;
    state.resyncNow = true;
    state.socket.close(CLOSE_RESYNC, "resync");
  }

  function reconnectSoon() {
    if (!state.socket && !state.terminal && !state.leaving) connect();
  }

  // --- wiring --------------------------------------------------------------------------------

  el.form.addEventListener("submit", (event) => {
    event.preventDefault();
    submit();
  });
  el.input.addEventListener("keydown", (event) => {
    // Enter sends, Shift+Enter is a new line; an IME composing text uses Enter to confirm.
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      submit();
    }
  });
  el.input.addEventListener("input", autosize);
  el.stop.addEventListener("click", stop);
  el.log.addEventListener("click", (event) => {
    const button = event.target.closest(".message__switch");
    if (button && !button.disabled) flip(button);
    const edit = event.target.closest(".message__edit");
    if (edit && !edit.disabled) openEditor(edit.closest(".message"));
    const copy = event.target.closest(".message__copy");
    if (copy) copyReply(copy);
  });
  // The phone's conversation drawer: ☰ opens it; its × button, Escape and a tap on the dimmed
  // backdrop close it, and focus goes back to ☰. While it is open it is modal: everything around
  // it is `inert` (out of reach of Tab, taps and a screen reader's reading cursor), and Tab and
  // Shift+Tab wrap round inside it instead of leaving for the browser's own controls.
  const sidebarPanel = $("conversation-panel");
  const sidebarBackdrop = $("sidebar-backdrop");
  const sidebarClose = $("sidebar-close");
  const phoneLayout = window.matchMedia("(max-width: 47.99rem)");
  const TABBABLE = "a[href], button, input, select, textarea, summary, [tabindex]";
  let madeInert = [];
  // What surrounds the drawer, found by walking up from it, so markup added to the page later is
  // covered too. Not the backdrop (it takes the closing tap) nor a <dialog> (the delete
  // confirmation opens from inside the drawer; an inert dialog could not be used).
  function aroundSidebar() {
    const around = [];
    for (let node = sidebarPanel; node && node.parentElement && node !== document.body; node = node.parentElement) {
      for (const sibling of node.parentElement.children) {
        if (sibling === node || sibling === sidebarBackdrop || sibling.inert) continue;
        if (sibling.tagName === "DIALOG" || sibling.tagName === "SCRIPT") continue;
        around.push(sibling);
      }
    }
    return around;
  }
  function setAroundInert(inert) {
    for (const node of madeInert) node.inert = false;
    madeInert = inert && sidebarPanel ? aroundSidebar() : [];
    for (const node of madeInert) node.inert = true;
  }
  // What Tab can reach in the drawer, in order. checkVisibility, not boxes alone: the inside of
  // a closed <details> (a conversation's ⋯ menu) has boxes in Chromium, but Tab passes it by.
  function sidebarTabbables() {
    return Array.from(sidebarPanel.querySelectorAll(TABBABLE)).filter((node) => {
      if (node.tabIndex < 0 || node.disabled) return false;
      if (typeof node.checkVisibility === "function") return node.checkVisibility();
      return node.getClientRects().length > 0 && !node.closest("details:not([open]) > :not(summary)");
    });
  }
  function sidebarIsOpen() {
    return el.chat.classList.contains("chat--sidebar-open");
  }
  function setSidebarOpen(open, { returnFocus = true } = {}) {
    el.chat.classList.toggle("chat--sidebar-open", open);
    el.sidebarToggle.setAttribute("aria-expanded", String(open));
    if (sidebarBackdrop) sidebarBackdrop.hidden = !open;
    // Before focusing ☰ on closing: it is in the chat column, which is inert while open.
    setAroundInert(open);
    if (open) {
      const target = document.querySelector("#conversation-panel [aria-current='page']") || sidebarClose;
      if (target) target.focus();
    } else if (returnFocus) {
      el.sidebarToggle.focus();
    }
  }
  if (el.sidebarToggle && sidebarPanel) {
    el.sidebarToggle.addEventListener("click", () => {
      setSidebarOpen(!sidebarIsOpen());
    });
    if (sidebarClose) sidebarClose.addEventListener("click", () => setSidebarOpen(false));
    if (sidebarBackdrop) sidebarBackdrop.addEventListener("click", () => setSidebarOpen(false));
    document.addEventListener("keydown", (event) => {
      if (!sidebarIsOpen()) return;
      if (event.key === "Escape") {
        event.preventDefault();
        setSidebarOpen(false);
        return;
      }
      // The delete confirmation (a modal <dialog>) keeps its own Tab order.
      if (event.key !== "Tab" || event.target.closest?.("dialog")) return;
      const tabbables = sidebarTabbables();
      if (!tabbables.length) return;
      const first = tabbables[0];
      const last = tabbables[tabbables.length - 1];
      const active = document.activeElement;
      // Focus outside the drawer (on the page itself after a removed item, say) comes back in.
      const inside = sidebarPanel.contains(active);
      if (event.shiftKey && (active === first || !inside)) {
        event.preventDefault();
        last.focus();
      } else if (!event.shiftKey && (active === last || !inside)) {
        event.preventDefault();
        first.focus();
      }
    });
    // Turned or widened past the phone layout: the sidebar is part of the page again, not a drawer.
    phoneLayout.addEventListener("change", () => {
      if (!phoneLayout.matches && sidebarIsOpen()) setSidebarOpen(false, { returnFocus: false });
    });
  }
  // The offline notice can be dismissed; that is remembered for this cat for the session.
  const bannerClose = $("offline-banner-close");
  if (bannerClose) {
    bannerClose.addEventListener("click", () => {
      el.banner.hidden = true;
      try {
        window.sessionStorage.setItem(BANNER_DISMISSED_KEY, "1");
      } catch {
        // not remembered; it comes back on the next page
      }
      el.input.focus();
    });
  }
  if (bannerDismissed()) el.banner.hidden = true;
  for (const button of el.careButtons) {
    button.addEventListener("click", () => care(button.dataset.action));
  }
  if (el.vitalsToggle) {
    // Nothing remembered yet: folded on phones, so the conversation gets the screen.
    let collapsed = window.matchMedia("(max-width: 47.99rem)").matches;
    try {
      const remembered = window.localStorage.getItem(VITALS_COLLAPSED_KEY);
      if (remembered !== null) collapsed = remembered === "1";
    } catch {
      // storage may be off (private mode): start expanded
    }
    setVitalsCollapsed(collapsed);
    el.vitalsToggle.addEventListener("click", () => {
      const now = !el.vitals.classList.contains("vitals--collapsed");
      setVitalsCollapsed(now);
      try {
        window.localStorage.setItem(VITALS_COLLAPSED_KEY, now ? "1" : "0");
      } catch {
        // not remembered; no harm
      }
    });
  }
  window.addEventListener("online", reconnectSoon);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") reconnectSoon();
  });
  window.addEventListener("pagehide", () => {
    state.leaving = true;
  });
  window.addEventListener("pageshow", (event) => {
    if (event.persisted) {
      state.leaving = false;
      reconnectSoon();
    }
  });

  // The messages as the server rendered them, made live: at load, and again when the log is
  // read anew (`reloadLog`, after chat.branched).
  function initLog() {
    for (const time of el.log.querySelectorAll(".message__meta time")) setTime(time.closest(".message"));
    for (const receipt of el.log.querySelectorAll(".memory-receipt")) {
      state.remembered.set(Number(receipt.dataset.memoryId), receipt.textContent);
    }
    for (const receipt of el.log.querySelectorAll(".episode-receipt")) {
      learnEpisode(receipt);
      // The server wrote the day in its time zone; this browser's may be a day off.
      const time = receipt.querySelector("time");
      if (time) time.textContent = formatDay(time.getAttribute("datetime"));
    }
    for (const node of el.log.querySelectorAll('.message[data-role="cat"]')) learnAlternatives(node);
    for (const node of el.log.querySelectorAll('.message[data-role="user"]')) learnVersions(node);
    // The server renders replies as plain text (the no-JS fallback): upgrade them to Markdown.
    // After learnAlternatives, which reads their plain text. At load (a deferred script) this
    // runs before the page has finished loading, as part of the page first read, not as news
    // in the log.
    for (const node of el.log.querySelectorAll('.message[data-role="cat"]')) {
      const box = node.querySelector(".message__text");
      const text = box ? box.textContent : "";
      const fallback = node.dataset.status === "error" && text === ERROR_FALLBACK;
      if (text && !fallback) setText(node, text, node.dataset.status);
    }
  }

  initLog();
  // `#message-<id>` (an episode's receipt links there): show that message, not the newest.
  const linked = /^#message-\d+$/.test(window.location.hash)
    ? el.log.querySelector(window.location.hash)
    : null;
  // Again after layout settles (fonts, the folded vitals, the figure): the newest message must
  // end up wholly above the composer, not half under it.
  const scrollToLinked = () => {
    if (linked) linked.scrollIntoView({ block: "center" });
    else el.log.scrollTop = el.log.scrollHeight;
  };
  scrollToLinked();
  window.requestAnimationFrame(scrollToLinked);
  window.addEventListener("load", scrollToLinked, { once: true });
  if (document.fonts && document.fonts.ready) document.fonts.ready.then(scrollToLinked);
  showState(config.state);
  updateComposer();
  connect();
})();
