"""Line breaking for any language: every character kept, CJK broken between characters.

Rich wraps at spaces only, so a Chinese turn (no spaces) jumps whole to the line under
its speaker label, and punctuation such as "，" can begin a line. ``wrap`` breaks Latin
text at spaces and CJK text between any two characters, keeps closing punctuation off
the start of a line and opening brackets off its end (the usual kinsoku rules), keeps a
number spaced between CJK characters with them ("第 5 轮"), and never drops a character.
``break_offsets`` gives the same breaks as positions, for the editor's soft wrap.
``Hanging`` draws a prefix (turn number, speaker) with the text's continuation lines
under the text, not under the prefix.
"""

from __future__ import annotations

import re
import unicodedata

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.style import StyleType
from rich.text import Text

# Characters that may not begin a line (closing punctuation, small kana, marks).
NO_LINE_START = frozenset(
    "，。、．！？；：,.!?;:)]}）］｝〕〉》」』】〙〗〟’”»›…‥・ーヽヾゝゞ々〻"
    "ぁぃぅぇぉっゃゅょゎゕゖァィゥェォッャュョヮヵヶ%％‰°℃"
)
# Characters that may not end a line (opening brackets and quotes).
NO_LINE_END = frozenset("([{（［｛〔〈《「『【〘〖〝‘“«‹")
_ATOM = re.compile(r"\s+|[^\s]")


def _breaks_anywhere(char: str) -> bool:
    """Whether a line may break before or after CHAR on its own (wide and CJK chars)."""
    return (
        cell_len(char) == 2
        or char in NO_LINE_START
        or char in NO_LINE_END
        or unicodedata.east_asian_width(char) in ("W", "F")
    )


class _Atom(str):
    """A piece of a paragraph that is never broken (a space run, a Latin word, one CJK
    character), knowing where in the paragraph it starts."""

    start: int

    def __new__(cls, text: str, start: int) -> _Atom:
        atom = super().__new__(cls, text)
        atom.start = start
        return atom


def _atoms(paragraph: str) -> list[_Atom]:
    """Spaces, Latin words (kept whole) and single CJK characters, in order."""
    atoms: list[_Atom] = []
    word, word_start = "", 0
    for match in _ATOM.finditer(paragraph):
        piece = match.group()
        if piece.isspace() or _breaks_anywhere(piece):
            if word:
                atoms.append(_Atom(word, word_start))
                word = ""
            atoms.append(_Atom(piece, match.start()))
        else:
            if not word:
                word_start = match.start()
            word += piece
    if word:
        atoms.append(_Atom(word, word_start))
    return _glue_numbers(atoms)


def _is_ideograph(char: str) -> bool:
    """A wide letter (CJK), not punctuation: the kind of character a number is counted by."""
    return cell_len(char) == 2 and char not in NO_LINE_START and char not in NO_LINE_END


def _glue_numbers(atoms: list[_Atom]) -> list[_Atom]:
    """A number spaced between CJK characters stays with them: "第 5 轮", "3 次"."""
    glued: list[_Atom] = []
    for atom in atoms:
        glued.append(atom)
        while len(glued) >= 3 and glued[-2] == " ":
            before, after = glued[-3], glued[-1]
            if not (
                (_is_ideograph(before[-1]) and after[0].isdigit())
                or (before[-1].isdigit() and _is_ideograph(after[0]))
            ):
                break
            glued[-3:] = [_Atom(before + " " + after, before.start)]
    return glued


def _must_stay(line: list[_Atom], atom: str) -> bool:
    """Whether breaking between LINE and ATOM would break a kinsoku rule."""
    if not line or line[-1].isspace():
        return False
    return atom[0] in NO_LINE_START or line[-1][-1] in NO_LINE_END


def _paragraph_lines(paragraph: str, width: int) -> list[list[_Atom]]:
    """PARAGRAPH (no newline) in lines of at most WIDTH cells, as the atoms of each line;
    only the spaces at a break are left out."""
    width = max(width, 2)
    lines: list[list[_Atom]] = []
    line: list[_Atom] = []
    used = 0

    def flush() -> None:
        nonlocal line, used
        while line and line[-1].isspace():  # the spaces at a break are not drawn
            line.pop()
        lines.append(line)
        line, used = [], 0

    for atom in _atoms(paragraph):
        size = cell_len(atom)
        if used + size <= width:
            line.append(atom)
            used += size
        elif atom.isspace():
            flush()
        elif size > width:  # a word longer than a line: cut it, filling this line
            for offset, char in enumerate(atom):
                if used + cell_len(char) > width:
                    flush()
                line.append(_Atom(char, atom.start + offset))
                used += cell_len(char)
        else:
            # Keep "，" with the character before it and "「" with the one after it.
            carried: list[_Atom] = []
            while len(line) > 1 and _must_stay(line, carried[0] if carried else atom):
                carried.insert(0, line.pop())
            if cell_len("".join(carried)) + size > width:
                line += carried  # cannot keep them together on any line
                carried = []
            flush()
            line = [*carried, atom]
            used = cell_len("".join(line))
    flush()
    return lines


def wrap(text: str, width: int) -> list[str]:
    """TEXT in lines of at most WIDTH cells; only the spaces at a break are left out."""
    return [
        "".join(line)
        for paragraph in text.split("\n")
        for line in _paragraph_lines(paragraph, width)
    ]


def break_offsets(line: str, width: int) -> list[int]:
    """Where ``wrap`` starts each continuation of LINE (no newline), as character indices:
    for an editor, which keeps the spaces at a break at the end of the line before it."""
    starts = [atoms[0].start for atoms in _paragraph_lines(line, width)[1:] if atoms]
    return [start for start in starts if 0 < start < len(line)]


class Hanging:
    """PREFIX, then TEXT wrapped with ``wrap`` and its continuation lines indented under it."""

    def __init__(
        self, prefix: Text, text: str, style: StyleType = "", after: Text | None = None
    ) -> None:
        self.prefix = prefix
        self.text = text
        self.style = style
        self.after = after  # a styled line under the text, at its indent (turn codes)

    def __str__(self) -> str:
        return self.prefix.plain + self.text

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        longest = max((cell_len(part) for part in self.text.split("\n")), default=0)
        return Measurement(self.prefix.cell_len + 2, self.prefix.cell_len + longest)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        indent = self.prefix.cell_len
        room = options.max_width - indent
        out = Text(no_wrap=True, overflow="ignore")
        out.append_text(self.prefix)
        if room < 8:  # too narrow to hang: the text goes under the prefix, full width
            indent, room = 0, options.max_width
            out.append("\n")
        for number, line in enumerate(wrap(self.text, room)):
            if number:
                out.append("\n" + " " * indent)
            out.append(line, self.style)
        if self.after is not None and self.after.plain:
            for extra in self.after.wrap(console, max(8, room)):
                out.append("\n" + " " * indent)
                out.append_text(extra)
        yield out
