/* CatChat: a small, safe Markdown subset for the cat's replies.
 *
 *   window.CatMarkdown.render(text) -> DocumentFragment
 *
 * Supported: paragraphs (a blank line) and line breaks (a newline), *emphasis* and _emphasis_,
 * **strong** and __strong__, `inline code`, fenced code blocks (``` or ~~~), bullet lists
 * (-, *, +) and numbered lists (1. or 1)), nested by indenting an item 2 or more spaces
 * further than the one above it (up to 8 levels, either kind in either), links [text](url) to
 * http:, https: and mailto: only, and backslash escapes. Everything else (headings, HTML,
 * images, tables…) stays text.
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
  // A list item: its indent, its marker (a bullet, or a number and its . or ), its text.
  const LIST_ITEM = /^([ \t]*)(?:([-*+])|(\d{1,9})[.)])[ \t]+(.*)$/;
  const CONTINUATION = /^(?: {2,}|\t)(\S.*)$/;
  const BLANK = /^[ \t]*$/;
  const MAX_DEPTH = 8; // nested emphasis deeper than this stays text (no runaway recursion)
  const MAX_LIST_DEPTH = 8; // an item indented deeper than this joins the deepest list

  function element(tag, className) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    return node;
  }

  // The width of a line's start, a tab reaching the next multiple of 4 (as CommonMark counts).
  function columns(prefix) {
    let width = 0;
    for (const ch of prefix) width = ch === "\t" ? width + 4 - (width % 4) : width + 1;
    return width;
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
    // The open lists, outermost first. Each: {node: ul/ol, ordered, parent (the fragment or the
    // li it is nested in), indent (of its markers), content (the column its items' text starts
    // at), item (the li taking lines, null after a blank line), lines (its text not yet rendered)}.
    const lists = [];
    const deepest = () => lists[lists.length - 1];

    const endParagraph = (open = false) => {
      if (para.length) fragment.append(paragraph(para, open));
      para = [];
    };
    // Renders the lines gathered for a level's item into it, after what it holds already (its
    // first lines, a nested list).
    const flushItem = (level, open = false) => {
      if (level.item && level.lines.length) {
        const last = level.item.lastChild;
        if (last && last.nodeName !== "UL" && last.nodeName !== "OL") level.item.append(element("br"));
        level.item.append(...inline(level.lines.join("\n"), 0, false, open));
      }
      level.lines = [];
    };
    const endItems = () => {
      for (const level of lists) {
        flushItem(level);
        level.item = null;
      }
    };
    const closeList = (open = false) => {
      flushItem(deepest(), open);
      lists.pop();
    };
    const endLists = (open = false) => {
      while (lists.length) closeList(open);
    };
    const openList = (parent, ordered, number, indent, content) => {
      const node = element(ordered ? "ol" : "ul");
      if (ordered && Number(number) !== 1) node.start = Number(number);
      parent.append(node);
      const level = { node, ordered, parent, indent, content, item: null, lines: [] };
      lists.push(level);
      return level;
    };

    for (let n = 0; n < lines.length; n += 1) {
      const line = lines[n];
      const fence = FENCE.exec(line);
      if (fence && !(fence[1][0] === "`" && fence[2].includes("`"))) {
        endParagraph();
        endLists();
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
        endItems();
        continue;
      }
      const marker = LIST_ITEM.exec(line);
      const indent = marker ? columns(marker[1]) : 0;
      // Outside a list, an item starts one only from the margin (up to 3 spaces in).
      if (marker && (lists.length || indent <= 3)) {
        endParagraph();
        const ordered = marker[3] !== undefined;
        const text = marker[4];
        const content = columns(line.slice(0, line.length - text.length));
        // Less indented than the deepest list: back out to the list it lines up with.
        while (lists.length > 1 && indent < deepest().indent) closeList();
        let level = deepest();
        if (level && indent >= level.indent + 2 && lists.length < MAX_LIST_DEPTH) {
          // Under the item above (the last one, after a blank line): a list inside it, after
          // its text so far.
          level.item = level.item || level.node.lastElementChild;
          flushItem(level);
          level = openList(level.item, ordered, marker[3], indent, content);
        } else if (!level || level.ordered !== ordered) {
          // A list of the other kind at this level takes over from the one there.
          const parent = level ? level.parent : fragment;
          if (level) closeList();
          level = openList(parent, ordered, marker[3], indent, content);
        }
        flushItem(level);
        level.item = element("li");
        level.node.append(level.item);
        level.lines.push(text);
        continue;
      }
      const continued = CONTINUATION.exec(line);
      if (lists.length && continued) {
        // An indented line belongs to the item whose text it lines up under, or the nearest
        // one out from it.
        const width = columns(line.slice(0, line.length - continued[1].length));
        while (lists.length > 1 && width < deepest().content) closeList();
        const level = deepest();
        level.item = level.item || level.node.lastElementChild;
        level.lines.push(continued[1]);
        continue;
      }
      if (lists.length && deepest().item) {
        // A line straight after an item, not indented, still belongs to it.
        deepest().lines.push(line.trim());
        continue;
      }
      endLists();
      para.push(line);
    }
    endParagraph(streaming);
    endLists(streaming);
    return fragment;
  }

  window.CatMarkdown = Object.freeze({ render, safeHref });
})();
