#!/usr/bin/env python3
"""Writes the C++ snippets of README.md, in order, as one program (the test readme_snippets).

Every ```cpp block of the README is taken, indented ones too; #include lines go to the top,
the rest into main() in the order the README shows them, so that the snippets must work when
run one after the other, as a reader would paste them. prelude.hpp defines the few helpers the
snippets call (load(), repair(), recount()). A block whose first line is `// not run` is left
out (none should be, but a snippet that needs two programs may say so).

Usage: extract_snippets.py README.md OUT.cpp
"""
import re
import sys


def blocks(text):
    for m in re.finditer(r"^( *)```cpp\n(.*?)^\1```", text, re.S | re.M):
        indent = len(m.group(1))
        yield [line[indent:] for line in m.group(2).splitlines()]


def main():
    readme, out = sys.argv[1], sys.argv[2]
    includes, body = [], []
    for n, lines in enumerate(blocks(open(readme).read()), 1):
        if lines and lines[0].strip() == "// not run":
            continue
        body.append(f"        // --- README block {n}")
        for line in lines:
            if line.startswith("#include"):
                if line not in includes:
                    includes.append(line)
            else:
                body.append("        " + line if line.strip() else "")
    program = "\n".join(
        ["// Generated from README.md by tests/readme/extract_snippets.py: do not edit.",
         *includes, '#include "prelude.hpp"', "", "int main() {", "    try {", *body,
         "    } catch (const std::exception& e) {",
         '        std::fprintf(stderr, "readme_snippets: %s\\n", e.what());',
         "        return 1;", "    }", '    std::puts("readme_snippets: OK");', "    return 0;",
         "}", ""])
    open(out, "w").write(program)


if __name__ == "__main__":
    main()
