#!/usr/bin/env python3
"""Import cycles between the source files of a crate.

    scripts/import-cycles.py [SRC_DIR] [--max N] [--edges]

Reads every `.rs` file under SRC_DIR (default: `src` of the repository), finds the paths
each one names (`use` declarations, and `crate::…`, `super::…`, `self::…` or child-module
paths in the code), resolves each to the file that defines the item (following `use`
re-exports, so `crate::Permit` counts as `permit.rs`, not `lib.rs`), and prints the
strongly connected components of that graph with more than one file: the import cycles.

Not counted: `mod` declarations, comments and doc links, string literals, and `use`
declarations under `#[cfg(doc)]` (they exist for doc links only).

`--max N` exits with status 1 if a cycle has more than N files; `--edges` prints the graph.
"""

import os
import re
import sys
from collections import defaultdict

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip(text):
    """Removes comments, string and char literals (keeping line structure)."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif text.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if text.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif text.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    out.append("\n" if text[i] == "\n" else "")
                    i += 1
        elif c == "r" and re.match(r'r#*"', text[i:i + 10]) and not re.match(r"\w", text[i - 1:i] or " "):
            m = re.match(r'r(#*)"', text[i:])
            end = '"' + m.group(1)
            j = text.find(end, i + len(m.group(0)))
            out.append('""')
            i = n if j < 0 else j + len(end)
        elif c == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('""')
            i = j + 1
        elif c == "'" and re.match(r"'(\\.|[^\\'])'", text[i:i + 4]) or text.startswith("'\\u{", i):
            j = text.find("'", i + 1 + (1 if text[i + 1] == "\\" else 0))
            out.append("' '")
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def module_of(path, src):
    rel = os.path.relpath(path, src)[:-3].split(os.sep)
    if rel[-1] == "mod":
        rel = rel[:-1]
    if rel == ["lib"] or rel == ["main"]:
        return ()
    return tuple(rel)


def expand_use(tree):
    """`a::{b, c::{d as e}, f::*}` -> [(["a","b"], "b"), (["a","c","d"], "e"), ...]."""
    tree = re.sub(r"\s+", "", tree)

    def parse(s, prefix):
        items, depth, start = [], 0, 0
        for k, ch in enumerate(s + ","):
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
            elif ch == "," and depth == 0:
                part = s[start:k]
                start = k + 1
                if not part:
                    continue
                if "{" in part:
                    head, body = part.split("{", 1)
                    head = [x for x in head.split("::") if x]
                    items += parse(body[:-1], prefix + head)
                else:
                    alias = None
                    if "as" in part and re.search(r"\bas\b", part.replace("as", " as ")):
                        m = re.match(r"(.*?)as(" + IDENT + ")$", part)
                        if m and m.group(1).endswith(("_", "")) and "::" in m.group(1) + "::":
                            part, alias = m.group(1), m.group(2)
                    segs = prefix + [x for x in part.split("::") if x]
                    if segs and segs[-1] == "self":
                        segs = segs[:-1]
                    items.append((segs, alias or (segs[-1] if segs else None)))
        return items

    return parse(tree, [])


class Crate:
    def __init__(self, src):
        self.src = src
        self.files = {}  # module path -> file
        self.text = {}  # file -> stripped text
        for root, _, names in os.walk(src):
            for name in names:
                if name.endswith(".rs"):
                    path = os.path.join(root, name)
                    mod = module_of(path, src)
                    self.files[mod] = os.path.relpath(path, src)
                    with open(path, encoding="utf-8") as f:
                        raw = f.read()
                    # `use` items that only exist for doc links.
                    raw = re.sub(r"#\[cfg\(doc\)\]\s*(pub(\([^)]*\))?\s+)?use\s[^;]*;", "", raw)
                    self.text[mod] = strip(raw)
        self.inline = self._inline_modules()
        self.uses = {mod: self._uses(mod) for mod in self.text}

    def _inline_modules(self):
        """Inline `mod name { … }` blocks: module path -> the file's module (same file);
        and per file, the spans of those blocks."""
        inline = {}
        self.spans = defaultdict(list)
        for mod, text in self.text.items():
            for m in re.finditer(r"\bmod\s+(" + IDENT + r")\s*\{", text):
                depth, end = 0, len(text)
                for k in range(m.end() - 1, len(text)):
                    if text[k] == "{":
                        depth += 1
                    elif text[k] == "}":
                        depth -= 1
                        if depth == 0:
                            end = k
                            break
                self.spans[mod].append((m.start(), end, m.group(1)))
        for mod, spans in self.spans.items():
            for start, end, name in spans:
                inline[self.scope(mod, start) + (name,)] = mod
        return inline

    def scope(self, mod, pos):
        """The module a position of file `mod` is in (inline modules included)."""
        inner = sorted((s, name) for s, e, name in self.spans.get(mod, ()) if s < pos < e)
        return mod + tuple(name for _, name in inner)

    def is_module(self, path):
        return tuple(path) in self.files or tuple(path) in self.inline

    def file_module(self, path):
        path = tuple(path)
        while path in self.inline:
            path = self.inline[path]
        return path

    def children(self, mod):
        return {m[-1] for m in list(self.files) + list(self.inline) if len(m) == len(mod) + 1 and m[:-1] == mod}

    def absolute(self, segs, mod):
        """A path as written in module `mod` -> absolute segments, or None if external."""
        segs = list(segs)
        if not segs:
            return None
        if segs[0] == "crate":
            return segs[1:]
        if segs[0] in ("self", "super"):
            base = list(mod)
            while segs and segs[0] in ("self", "super"):
                if segs.pop(0) == "super":
                    base = base[:-1]
            return base + segs
        if segs[0] in self.children(mod):
            return list(mod) + segs
        return None

    def _uses(self, mod):
        """Names brought into scope by `use` in `mod` (the file): name -> absolute path."""
        names = {}
        for m in re.finditer(r"\buse\s+([^;]*);", self.text[mod]):
            for segs, alias in expand_use(m.group(1)):
                path = self.absolute(segs, self.scope(mod, m.start()))
                if path is not None and alias and alias != "*":
                    names[alias] = path
        return names

    def resolve(self, path, seen=None):
        """Absolute path -> the module (file) that defines the item it names."""
        seen = seen or set()
        path = [s for s in path if s != "*"]
        k = len(path)
        while k > 0 and not self.is_module(path[:k]):
            k -= 1
        mod = self.file_module(path[:k])
        if k < len(path):
            name = path[k]
            target = self.uses.get(mod, {}).get(name)
            key = (mod, name)
            if target is not None and key not in seen:
                seen.add(key)
                return self.resolve(target + path[k + 1:], seen)
        return mod

    def edges(self):
        graph = defaultdict(set)
        for mod, text in self.text.items():
            paths = []
            for m in re.finditer(r"\buse\s+([^;]*);", text):
                scope = self.scope(mod, m.start())
                paths += [(segs, scope) for segs, _ in expand_use(m.group(1))]
            body = re.sub(r"\buse\s+[^;]*;", lambda u: " " * len(u.group(0)), text)
            locals_ = set(self.children(mod)) | {
                n for n, p in self.uses[mod].items() if self.is_module(p)
            }
            heads = ["crate", "self", "super"] + sorted(locals_)
            pattern = r"(?<![\w:])((?:" + "|".join(map(re.escape, heads)) + r")(?:::" + IDENT + r")+)"
            for m in re.finditer(pattern, body):
                segs = m.group(1).split("::")
                if segs[0] in locals_ and segs[0] not in self.children(mod):
                    segs = self.uses[mod][segs[0]] and ["crate"] + self.uses[mod][segs[0]] + segs[1:]
                paths.append((segs, self.scope(mod, m.start())))
            for segs, scope in paths:
                path = self.absolute(segs, scope)
                if path is None:
                    continue
                target = self.resolve(path)
                src_file = self.files[self.file_module(mod)]
                dst_file = self.files.get(target)
                if dst_file and dst_file != src_file:
                    graph[src_file].add(dst_file)
        return graph


def sccs(graph, nodes):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def main(argv):
    here = os.path.dirname(os.path.abspath(__file__))
    src, limit, show_edges = os.path.join(here, "..", "src"), None, False
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--max":
            limit = int(args.pop(0))
        elif a == "--edges":
            show_edges = True
        else:
            src = a
    crate = Crate(os.path.normpath(src))
    graph = crate.edges()
    nodes = set(crate.files.values())
    if show_edges:
        for f in sorted(graph):
            print(f"{f} -> {', '.join(sorted(graph[f]))}")
        print()
    cycles = sorted((c for c in sccs(graph, nodes) if len(c) > 1), key=lambda c: (-len(c), c))
    print(f"{len(nodes)} files, {sum(len(v) for v in graph.values())} import edges, "
          f"{len(cycles)} cycle(s)")
    for c in cycles:
        print(f"  {len(c)} files: {', '.join(c)}")
    largest = max((len(c) for c in cycles), default=1)
    print(f"largest cycle: {largest} file(s)")
    if limit is not None and largest > limit:
        print(f"error: an import cycle of {largest} files (at most {limit} allowed)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
