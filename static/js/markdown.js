/* CatChat: a small, safe Markdown subset for the cat's replies.
 *
 *   window.CatMarkdown.render(text) -> DocumentFragment
 *
 * Supported: paragraphs (a blank line) and line breaks (a newline), *emphasis* and _emphasis_,
 * **strong** and __strong__, `inline code`, fenced code blocks (``` or ~~~), bullet lists
 * (-, *, +) and numbered lists (1. or 1)), links [text](url) to http:, https: and mailto:
 * only, and backslash escapes. Everything else (headings, HTML, images, tables…) stays text.
 *
 * Safety rule: the model's text only ever reaches the page through createElement, textContent
 * and text nodes, never as markup (no innerHTML anywhere), so `<script>`, `<img onerror>` or an
 * HTML comment in a reply show as the characters they are. A link whose address is not
 * http(s)/mailto (javascript:, data:, relative…) is left as its literal text.
 *
 * Written for streaming: an unclosed fence or emphasis (the reply is still arriving) renders
 * as far as it goes, and parsing is linear enough to re-run on every delta of a long reply.
 */
"use strict";

(() => {
  const LINK_REL = "noopener noreferrer nofollow";
  const SAFE_PROTOCOLS = new Set(["http:", "https:", "mailto:"]);
  const ESCAPABLE = /[!-/:-@[-`{-~]/; // ASCII punctuation, as CommonMark
  const FENCE = /^ {0,3}(`{3,}|~{3,})(.*)$/;
  const BULLET = /^ {0,3}([-*+])[ \t]+(.*)$/;
  const NUMBERED = /^ {0,3}(\d{1,9})([.)])[ \t]+(.*)$/;
  const CONTINUATION = /^(?: {2,}|\t)(\S.*)$/;
  const BLANK = /^[ \t]*$/;
  const MAX_DEPTH = 8; // nested emphasis deeper than this stays text (no runaway recursion)

  function element(tag, className) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    return node;
  }

  function isSpace(ch) {
    return ch === undefined || /\s/u.test(ch);
  }

  function isWordChar(ch) {
    return ch !== undefined && /[\p{L}\p{N}]/u.test(ch);
  }

  // The address a link may point to, or null. The URL parser's own reading decides (it drops
  // tabs and newlines, lower-cases the scheme), so "JaVa\tScRiPt:" is caught too.
  function safeHref(raw) {
    if (!raw || /[\s\u0000-\u001f\u007f]/u.test(raw)) return null;
    if (!/^(?:https?:\/\/|mailto:)/i.test(raw)) return null;
    let url;
    try {
      url = new URL(raw);
    } catch {
      return null;
    }
    return SAFE_PROTOCOLS.has(url.protocol) ? url.href : null;
  }

  // --- inline ---------------------------------------------------------------------------------

  // The end (exclusive) of the code span opening at `start`, or -1.
  function codeSpanEnd(src, start) {
    let run = 0;
    while (src[start + run] === "`") run += 1;
    let at = start + run;
    while (at < src.length) {
      const found = src.indexOf("`", at);
      if (found === -1) return -1;
      let close = 0;
      while (src[found + close] === "`") close += 1;
      if (close === run) return found + close;
      at = found + close;
    }
    return -1;
  }

  // [text](url) opening at `start`: {text, url, end} or null.
  function matchLink(src, start) {
    let depth = 0;
    let at = start;
    for (; at < src.length; at += 1) {
      const ch = src[at];
      if (ch === "\\") at += 1;
      else if (ch === "`") {
        const end = codeSpanEnd(src, at);
        if (end !== -1) at = end - 1;
      } else if (ch === "[") depth += 1;
      else if (ch === "]") {
        depth -= 1;
        if (depth === 0) break;
      } else if (ch === "\n" && src[at + 1] === "\n") return null;
    }
    if (depth !== 0 || src[at + 1] !== "(") return null;
    const textEnd = at;
    let parens = 0;
    let close = -1;
    for (let i = textEnd + 2; i < src.length; i += 1) {
      const ch = src[i];
      if (ch === "\\") i += 1;
      else if (ch === "(") parens += 1;
      else if (ch === ")") {
        if (parens === 0) {
          close = i;
          break;
        }
        parens -= 1;
      } else if (/\s/u.test(ch)) return null;
    }
    if (close === -1) return null;
    return {
      text: src.slice(start + 1, textEnd),
      url: src.slice(textEnd + 2, close),
      end: close + 1,
    };
  }

  // The index of the delimiter closing `marker` (`*`, `**`, `_` or `__`) opened before `from`.
  function findCloser(src, from, marker) {
    const ch = marker[0];
    const strong = marker.length === 2;
    for (let i = from; i < src.length; i += 1) {
      const c = src[i];
      if (c === "\\") {
        i += 1;
      } else if (c === "`") {
        const end = codeSpanEnd(src, i);
        if (end !== -1) i = end - 1;
      } else if (c === ch) {
        const double = src[i + 1] === ch;
        const closes = !isSpace(src[i - 1]) && i > from;
        const wordAfter = ch === "_" && isWordChar(src[i + marker.length]);
        if (strong && double && closes && !wordAfter) return i;
        if (!strong && !double && closes && !wordAfter) return i;
        if (double) i += 1; // a pair inside a single (or the reverse): nested, skip it
      }
    }
    return -1;
  }

  // `open`: this text is the tail of a reply still streaming in, so a construct opened and not
  // yet closed (an action *being typ…, a `code span, a [link](htt…) shows as it will end up
  // rather than as its raw markers, which would vanish a moment later.
  function inline(src, depth, inLink, open = false) {
    const out = [];
    let text = "";
    const flush = () => {
      if (text) out.push(document.createTextNode(text));
      text = "";
    };
    let i = 0;
    while (i < src.length) {
      const ch = src[i];
      if (ch === "\\" && i + 1 < src.length && ESCAPABLE.test(src[i + 1])) {
        text += src[i + 1];
        i += 2;
        continue;
      }
      if (ch === "\n") {
        flush();
        out.push(element("br"));
        i += 1;
        continue;
      }
      if (ch === "`") {
        const end = codeSpanEnd(src, i);
        let run = 0;
        while (src[i + run] === "`") run += 1;
        if (end === -1 && open && src.slice(i + run).trim()) {
          flush();
          const code = element("code");
          code.textContent = src.slice(i + run).replace(/`+$/, "").replace(/\n/g, " ");
          out.push(code);
          i = src.length;
          continue;
        }
        if (end === -1) {
          text += src.slice(i, i + run);
          i += run;
          continue;
        }
        let body = src.slice(i + run, end - run).replace(/\n/g, " ");
        if (body.length > 2 && body.startsWith(" ") && body.endsWith(" ") && body.trim()) {
          body = body.slice(1, -1);
        }
        flush();
        const code = element("code");
        code.textContent = body;
        out.push(code);
        i = end;
        continue;
      }
      if (ch === "[" && !inLink) {
        const link = matchLink(src, i);
        if (link) {
          const href = safeHref(link.url);
          if (href && link.text.trim()) {
            flush();
            const a = element("a");
            a.href = href;
            a.rel = LINK_REL;
            a.target = "_blank";
            a.append(...inline(link.text, depth + 1, true, open));
            const hint = element("span", "visually-hidden");
            hint.textContent = " (opens in a new tab)";
            a.append(hint);
            out.push(a);
          } else {
            text += src.slice(i, link.end); // an unsafe or empty link stays as written
          }
          i = link.end;
          continue;
        }
        const partial = open ? /^\[([^\]\n]*)(?:\]\([^)\s]*)?$/.exec(src.slice(i)) : null;
        if (partial) {
          flush();
          out.push(...inline(partial[1], depth + 1, true, true));
          i = src.length;
          continue;
        }
      }
      if ((ch === "*" || ch === "_") && depth < MAX_DEPTH) {
        const double = src[i + 1] === ch;
        const marker = double ? ch + ch : ch;
        const after = src[i + marker.length];
        // Opens only before a non-space; `_` only at the start of a word (not snake_case).
        const opens = !isSpace(after) && after !== ch && !(ch === "_" && isWordChar(src[i - 1]));
        const close = opens ? findCloser(src, i + marker.length, marker) : -1;
        if (close !== -1) {
          flush();
          const node = element(double ? "strong" : "em");
          node.append(...inline(src.slice(i + marker.length, close), depth + 1, inLink));
          out.push(node);
          i = close + marker.length;
          continue;
        }
        const rest = open && opens ? src.slice(i + marker.length).replace(/[*_]+$/, "") : "";
        if (rest) {
          flush();
          const node = element(double ? "strong" : "em");
          node.append(...inline(rest, depth + 1, inLink, true));
          out.push(node);
          i = src.length;
          continue;
        }
        text += marker;
        i += marker.length;
        continue;
      }
      text += ch;
      i += 1;
    }
    flush();
    return out;
  }

  // --- blocks ---------------------------------------------------------------------------------

  function paragraph(lines, open) {
    const p = element("p");
    p.append(...inline(lines.join("\n"), 0, false, open));
    return p;
  }

  function codeBlock(lines, info) {
    const pre = element("pre");
    // Scrolls sideways on a phone: focusable, so the keyboard can scroll it too.
    pre.tabIndex = 0;
    const code = element("code");
    const lang = info.trim().split(/\s+/u)[0];
    if (/^[\w+#.-]{1,30}$/u.test(lang)) code.dataset.lang = lang;
    code.textContent = lines.join("\n");
    pre.append(code);
    return pre;
  }

  // `options.streaming`: the text is a reply still arriving (see `inline`'s `open`).
  function render(source, options = {}) {
    const streaming = Boolean(options.streaming);
    const fragment = document.createDocumentFragment();
    const lines = String(source ?? "").replace(/\r\n?/g, "\n").split("\n");
    let para = [];
    let list = null; // {node, ordered, item: li, lines: []}

    const endParagraph = (open = false) => {
      if (para.length) fragment.append(paragraph(para, open));
      para = [];
    };
    const endItem = (open = false) => {
      if (list && list.item) list.item.append(...inline(list.lines.join("\n"), 0, false, open));
      if (list) {
        list.item = null;
        list.lines = [];
      }
    };
    const endList = (open = false) => {
      endItem(open);
      list = null;
    };

    for (let n = 0; n < lines.length; n += 1) {
      const line = lines[n];
      const fence = FENCE.exec(line);
      if (fence && !(fence[1][0] === "`" && fence[2].includes("`"))) {
        endParagraph();
        endList();
        const body = [];
        const closing = new RegExp(`^ {0,3}${fence[1][0]}{${fence[1].length},}[ \\t]*$`);
        n += 1;
        while (n < lines.length && !closing.test(lines[n])) {
          body.push(lines[n]);
          n += 1;
        }
        // An unclosed fence runs to the end: the rest of the reply is still streaming in.
        fragment.append(codeBlock(body, fence[2]));
        continue;
      }
      if (BLANK.test(line)) {
        endParagraph();
        endItem();
        continue;
      }
      const bullet = BULLET.exec(line);
      const numbered = bullet ? null : NUMBERED.exec(line);
      if (bullet || numbered) {
        endParagraph();
        const ordered = Boolean(numbered);
        if (!list || list.ordered !== ordered) {
          endList();
          const node = element(ordered ? "ol" : "ul");
          if (ordered && Number(numbered[1]) !== 1) node.start = Number(numbered[1]);
          fragment.append(node);
          list = { node, ordered, item: null, lines: [] };
        }
        endItem();
        list.item = element("li");
        list.node.append(list.item);
        list.lines.push(ordered ? numbered[3] : bullet[2]);
        continue;
      }
      const continued = CONTINUATION.exec(line);
      if (list && (list.item || continued)) {
        // A line under an item (indented, or straight after it) belongs to that item.
        if (!list.item) {
          list.item = list.node.lastElementChild;
          list.item.append(element("br"));
        }
        list.lines.push(continued ? continued[1] : line.trim());
        continue;
      }
      endList();
      para.push(line);
    }
    endParagraph(streaming);
    endList(streaming);
    return fragment;
  }

  window.CatMarkdown = Object.freeze({ render, safeHref });
})();
