"""Safe reading of untrusted XML and zip archives (QTI packages, Moodle XML).

XML: every document is checked *before* it is parsed, then parsed with lxml configured against XXE and
entity expansion:

* the prolog is scanned for a ``<!DOCTYPE``: one that declares entities (``<!ENTITY``, the billion-laughs
  and XXE vectors) or refers to an external DTD (``SYSTEM``/``PUBLIC``) is refused with a clear message and
  never reaches the parser. This check matters: libxml2 expands internal entities inside *attribute values*
  even with ``resolve_entities=False``;
* the parser runs with ``resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False``
  (libxml2's depth and text-size limits stay on), comments and processing instructions dropped;
* after parsing, the document's DTD is checked again (entities, external DTD) as a second line of defence.

Zip: names are checked (no absolute paths, ``..``, backslashes, drive letters, NUL; no duplicates, no
symlinks, no encryption), the number of members, the total unpacked size and each member's compression
ratio are limited (zip-bomb guard), and members are read fully in memory (never extracted to disk), with
the declared sizes enforced by :mod:`zipfile`.
"""

from __future__ import annotations

import posixpath
import re
import stat
import threading
import zipfile
import zlib
from collections.abc import Mapping
from typing import Any

from lxml import etree

from question_bank.messages import Problem

from .interchange import problem

__all__ = ["parse_xml", "check_prolog", "SafeZip", "ZipLimits", "resolve_href", "DEFAULT_ZIP_LIMITS"]

_local = threading.local()


def _parser() -> etree.XMLParser:
    p = getattr(_local, "parser", None)
    if p is None:
        p = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False,
                            dtd_validation=False, remove_comments=True, remove_pis=True, collect_ids=False)
        _local.parser = p
    return p


_DOCTYPE_EXTERNAL = re.compile(r"<!DOCTYPE\s+[^\s\[>]+\s+(SYSTEM|PUBLIC)\b")
#: How much of the head of a document is scanned for the prolog (a longer prolog is refused).
_PROLOG_SCAN = 1 << 20


def _head_text(data: bytes) -> str:
    head = data[:_PROLOG_SCAN]
    for bom, enc in ((b"\xff\xfe\x00\x00", "utf-32-le"), (b"\x00\x00\xfe\xff", "utf-32-be"),
                     (b"\xff\xfe", "utf-16-le"), (b"\xfe\xff", "utf-16-be")):
        if head.startswith(bom):
            return head[len(bom):].decode(enc, errors="replace")
    if head[:4] in (b"<\x00?\x00", b"\x00<\x00?"):  # UTF-16 without a BOM
        return head.decode("utf-16-le" if head[0] == 0x3C else "utf-16-be", errors="replace")
    # ASCII-compatible encodings (UTF-8, GB18030, ...): the markup characters are ASCII.
    return head.decode("latin-1")


def check_prolog(data: bytes) -> tuple[str | None, str]:
    """Scan the prolog (before the root element) of an XML document.

    Returns ``(None, "")`` when it is acceptable, ``("xml_entities", doctype)`` when a DOCTYPE declares
    entities, ``("xml_external_dtd", system id)`` when it refers to an external DTD.
    """
    text = _head_text(data)
    i, n = 0, len(text)
    if text.startswith("\ufeff"):
        i = 1
    while i < n:
        while i < n and text[i] in " \t\r\n":
            i += 1
        if text.startswith("<?", i):
            j = text.find("?>", i)
            if j < 0:
                return None, ""  # malformed: the parser reports it
            i = j + 2
        elif text.startswith("<!--", i):
            j = text.find("-->", i)
            if j < 0:
                return None, ""
            i = j + 3
        elif text.startswith("<!DOCTYPE", i):
            end, subset = _doctype_end(text, i)
            doctype = text[i:end]
            if "<!ENTITY" in subset or (end >= n and "<!ENTITY" in text[i:]):
                return "xml_entities", doctype[:200]
            if end >= n and len(data) > _PROLOG_SCAN:  # a DOCTYPE longer than the scanned head: refuse
                return "xml_entities", doctype[:200]
            m = _DOCTYPE_EXTERNAL.match(doctype)
            if m:
                sysid = re.findall(r"[\"']([^\"']*)[\"']", doctype[m.end():].split("[", 1)[0])
                return "xml_external_dtd", (sysid[-1] if sysid else m.group(1))[:200]
            i = end
        else:
            return None, ""
    return None, ""


def _doctype_end(text: str, i: int) -> tuple[int, str]:
    """End index (after ``>``) of the DOCTYPE starting at ``i`` and its internal subset text."""
    n = len(text)
    j = i + len("<!DOCTYPE")
    quote = None
    subset_start = subset_end = -1
    depth = 0
    while j < n:
        c = text[j]
        if quote:
            if c == quote:
                quote = None
        elif c in "\"'":
            quote = c
        elif c == "[" and depth == 0:
            depth, subset_start = 1, j + 1
        elif c == "]" and depth == 1:
            depth, subset_end = 0, j
        elif c == "<" and depth and text.startswith("<!--", j):
            k = text.find("-->", j)
            j = n if k < 0 else k + 3
            continue
        elif c == ">" and depth == 0:
            subset = text[subset_start:subset_end] if subset_start >= 0 and subset_end >= 0 else ""
            return j + 1, subset
        j += 1
    subset = text[subset_start:] if subset_start >= 0 else ""
    return n, subset


def parse_xml(data: bytes, *, file: str | None = None) -> tuple[Any, list[Problem]]:
    """Parse untrusted XML bytes safely; ``(root element, [])`` or ``(None, [problem])``.

    Problems (all located at ``file``): ``xml_entities`` / ``xml_external_dtd`` (refused before parsing),
    ``xml_malformed`` (with the parser's line and column).
    """
    code, detail = check_prolog(data)
    if code == "xml_entities":
        return None, [problem("xml_entities", file=file, line=1)]
    if code == "xml_external_dtd":
        return None, [problem("xml_external_dtd", file=file, line=1, value=detail)]
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        line, col = (exc.position if exc.position else (exc.lineno or 0, 0))
        msg = str(exc.msg or exc).strip()
        return None, [problem("xml_malformed", file=file, line=line or None, line_no=line, col=col,
                              detail=msg[:300])]
    except ValueError as exc:  # e.g. unicode strings with an encoding declaration
        return None, [problem("xml_malformed", file=file, line_no=0, col=0, detail=str(exc)[:300])]
    dtd = root.getroottree().docinfo
    internal = dtd.internalDTD
    if internal is not None and any(True for _ in internal.iterentities()):
        return None, [problem("xml_entities", file=file, line=1)]
    if dtd.system_url:
        return None, [problem("xml_external_dtd", file=file, line=1, value=str(dtd.system_url)[:200])]
    return root, []


# ----------------------------------------------------------------------------------------------- zip

class ZipLimits:
    """Limits applied when opening an uploaded zip archive."""

    def __init__(self, *, max_files: int = 200_000, max_uncompressed_bytes: int = 1 << 30,
                 max_ratio: float = 200.0, ratio_min_bytes: int = 1 << 20):
        self.max_files = max_files
        self.max_uncompressed_bytes = max_uncompressed_bytes
        self.max_ratio = max_ratio
        self.ratio_min_bytes = ratio_min_bytes


DEFAULT_ZIP_LIMITS = ZipLimits()
_DRIVE = re.compile(r"^[A-Za-z]:")


def _unsafe_reason(name: str) -> tuple[str, str] | None:
    if "\x00" in name:
        return "NUL character in the name", "文件名含有空字符"
    if "\\" in name:
        return "backslash in the name", "文件名含有反斜杠"
    if name.startswith("/") or _DRIVE.match(name):
        return "absolute path", "绝对路径"
    if any(part == ".." for part in name.split("/")):
        return "path traversal (..)", "路径穿越（..）"
    return None


class SafeZip:
    """An uploaded zip archive, checked on open; members are read into memory only.

    Use :meth:`open`; it returns ``(SafeZip or None, problems)``. ``names`` lists the file members
    (directories excluded) in archive order.
    """

    def __init__(self, zf: zipfile.ZipFile, infos: Mapping[str, zipfile.ZipInfo], file: str | None):
        self._zf = zf
        self._infos = dict(infos)
        self.file = file
        self.names = list(infos)

    @classmethod
    def open(cls, data: bytes, *, file: str | None = None,
             limits: ZipLimits = DEFAULT_ZIP_LIMITS) -> tuple["SafeZip | None", list[Problem]]:
        import io
        try:
            zf = zipfile.ZipFile(io.BytesIO(data))
            infos = zf.infolist()
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError) as exc:
            return None, [problem("not_zip", file=file, reason=f"{type(exc).__name__}: {str(exc)[:120]}",
                                  reason_zh="无法读取压缩包目录")]
        problems: list[Problem] = []
        if len(infos) > limits.max_files:
            return None, [problem("zip_too_many_files", file=file, count=len(infos), max=limits.max_files)]
        out: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in infos:
            name = info.filename
            reason = _unsafe_reason(name)
            if reason is not None:
                problems.append(problem("zip_unsafe_name", file=file, value=name[:200], reason=reason[0],
                                        reason_zh=reason[1]))
                continue
            mode = (info.external_attr >> 16) & 0xFFFF
            if mode and stat.S_ISLNK(mode):
                problems.append(problem("zip_unsafe_name", file=file, value=name[:200], reason="symbolic link",
                                        reason_zh="符号链接"))
                continue
            if info.is_dir():
                continue
            if info.flag_bits & 0x1:
                problems.append(problem("zip_encrypted", file=file, value=name[:200]))
                continue
            if name in out:
                problems.append(problem("zip_duplicate_name", file=file, value=name[:200]))
                continue
            total += info.file_size
            if (info.file_size >= limits.ratio_min_bytes
                    and info.file_size > limits.max_ratio * max(info.compress_size, 1)):
                problems.append(problem("zip_ratio", file=file, value=name[:200],
                                        ratio=round(info.file_size / max(info.compress_size, 1)),
                                        max=round(limits.max_ratio)))
            out[name] = info
        if total > limits.max_uncompressed_bytes:
            problems.append(problem("uncompressed_too_large", file=file, size=total,
                                    max=limits.max_uncompressed_bytes))
        if problems:
            zf.close()
            return None, problems
        return cls(zf, out, file), []

    def __contains__(self, name: str) -> bool:
        return name in self._infos

    def size(self, name: str) -> int:
        return self._infos[name].file_size

    def read(self, name: str) -> tuple[bytes | None, list[Problem]]:
        """The bytes of member ``name`` or ``(None, [problem])`` for a damaged member."""
        try:
            return self._zf.read(self._infos[name]), []
        except (zipfile.BadZipFile, zlib.error, NotImplementedError, OSError, EOFError, ValueError) as exc:
            return None, [problem("not_zip", file=name, reason=f"{type(exc).__name__}: {str(exc)[:120]}",
                                  reason_zh="压缩包中的文件已损坏")]

    def close(self) -> None:
        self._zf.close()


def resolve_href(base_file: str, href: str) -> str | None:
    """Resolve a relative ``href`` (percent-encoded, ``/``-separated) against the directory of
    ``base_file`` inside a package; ``None`` for absolute URLs, absolute paths and escapes above the root."""
    from urllib.parse import unquote, urlsplit
    href = href.strip()
    parts = urlsplit(href)
    if parts.scheme or parts.netloc or href.startswith("/"):
        return None
    path = unquote(parts.path)
    if not path or "\\" in path:
        return None
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(base_file), path))
    if joined.startswith("../") or joined == ".." or joined.startswith("/"):
        return None
    return joined
