"""The one text policy for user-sent text (docs/security.md, "Text fields").

Every text field a client can send (stream titles, interests and motivations, mini crowd-funding
titles, chat messages, ban reasons, join device fields, dev profile fields, Socket.IO `sendMessage`)
goes through `check_text` with its own `TextRule`, through the pydantic type `text_field(rule)` or
directly. A refusal is a `ValueError` whose message names the class of character, never the value, so
the 400 `Validation failed` envelope can always be encoded (a lone surrogate cannot be UTF-8-encoded,
stored in BSON nor written as JSON: it must never get past here).

What is refused, and why:
- lone surrogates (U+D800–U+DFFF): not text; JSON's `\\ud800` escape is the only way in;
- control characters (Unicode `Cc`: NUL, ESC, DEL, C1…): terminal and log injection; a multi-line
  field accepts `\\n`, `\\r` and `\\t`, a one-line field none;
- direction controls (U+202A–U+202E, U+2066–U+2069, U+200E/U+200F, U+061C): they reorder the text
  displayed around them (filename and link spoofing);
- line and paragraph separators (U+2028, U+2029): an invisible line break (multi-line fields use `\\n`);
- invalid text: U+FFFD (what undecodable bytes became) and noncharacters (U+FDD0–U+FDEF, U+xFFFE/U+xFFFF);
- texts with nothing visible: only blanks, zero-width characters (ZWSP, ZWNJ, ZWJ, word joiner, BOM,
  soft hyphen, other `Cf`) and blank-looking letters (Hangul fillers, braille blank). A ZWJ inside an
  emoji sequence is fine: only a text made of nothing else is refused;
- over-long texts, counted after trimming both in characters (code points) and in UTF-8 bytes.

Texts are trimmed (`str.strip`: spaces, tabs, line breaks at both ends) before the checks.
"""

import unicodedata
from dataclasses import dataclass

from pydantic import AfterValidator

DIRECTION_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
SEPARATORS = frozenset("\u2028\u2029")
MULTILINE_CONTROLS = frozenset("\n\r\t")
# Letters and symbols that render as nothing; with the `Cf` format characters and blanks they make a
# text look empty.
BLANK_LOOKING = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e")

CONTROL = "must not contain control characters"
DIRECTION = "must not contain direction overrides (bidirectional control characters)"
SEPARATOR = "must not contain line or paragraph separators (U+2028, U+2029)"
INVALID = "must not contain invalid text (lone surrogates, U+FFFD or noncharacters)"
BLANK = "must not be blank"
INVISIBLE = "must not be blank: it has only zero-width or invisible characters"


@dataclass(frozen=True)
class TextRule:
    """Limits of one field; `max_bytes` defaults to 3 bytes per character (any text of the Basic
    Multilingual Plane fits at full length; a text of 4-byte characters, emoji, is cut at three quarters)."""

    max_chars: int
    max_bytes: int = 0
    multiline: bool = False
    required: bool = True  # False: an empty (after trimming) text is allowed (the field is then unset)

    @property
    def byte_limit(self) -> int:
        return self.max_bytes or 3 * self.max_chars


def _is_noncharacter(code: int) -> bool:
    return 0xFDD0 <= code <= 0xFDEF or (code & 0xFFFE) == 0xFFFE


def _invisible(char: str) -> bool:
    return char.isspace() or unicodedata.category(char) == "Cf" or char in BLANK_LOOKING


def check_text(value: str, rule: TextRule) -> str:
    """`value` trimmed, or ValueError naming the first rule it breaks."""
    if len(value) > 4 * rule.max_chars + 256:  # hopeless however it trims: refused before any scan
        raise ValueError(f"must be at most {rule.max_chars} characters after trimming")
    for char in value:  # before anything encodes or strips it
        code = ord(char)
        if 0xD800 <= code <= 0xDFFF or char == "\ufffd" or _is_noncharacter(code):
            raise ValueError(INVALID)
    value = value.strip()
    for char in value:
        if char in DIRECTION_CONTROLS:
            raise ValueError(DIRECTION)
        if char in SEPARATORS:
            raise ValueError(SEPARATOR)
        if unicodedata.category(char) == "Cc" and not (rule.multiline and char in MULTILINE_CONTROLS):
            raise ValueError(CONTROL)
    if not value:
        if rule.required:
            raise ValueError(BLANK)
        return value
    if all(_invisible(char) for char in value):
        raise ValueError(INVISIBLE)
    if len(value) > rule.max_chars:
        raise ValueError(f"must be at most {rule.max_chars} characters after trimming")
    if len(value.encode()) > rule.byte_limit:
        raise ValueError(f"must be at most {rule.byte_limit} bytes in UTF-8 (emoji and accents count more)")
    return value


def checked(rule: TextRule) -> AfterValidator:
    """The pydantic validator of a text field under `rule`: `Annotated[str, checked(RULE)]`."""
    return AfterValidator(lambda value: check_text(value, rule))
