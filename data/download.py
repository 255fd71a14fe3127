"""Download a DisProt release and the CAID reference sets into a cache folder.

    python -m idr_kit.data.download disprot --release 2023_12 --cache downloads
    python -m idr_kit.data.download caid --cache downloads

A file already in the cache is used as it is. Without a network, the error says which URL to
fetch elsewhere and where to put it (or which option to pass it with).
"""
from __future__ import annotations

import argparse
import http.client
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from idr_kit.data.atomic import atomic_write
from idr_kit.data.disprot import read_disprot_json
from idr_kit.data.errors import InputError, UserError
from idr_kit.data.fasta import read_fasta

# The DisProt REST API's search endpoint. With format=json it answers {"data": [...], "size": N};
# read_disprot_json refuses a file holding fewer than N entries (one page of a paged answer).
# The query parameters are those of DisProt's own download links, as cited in public code, e.g.
# "https://disprot.org/api/search?release=2023_12&show_ambiguous=true&show_obsolete=false
#  &format=tsv&namespace=all&get_consensus=false" (Disobind's README) and the same with
# format=json (scripts that wget a whole release and read payload["data"]).
DISPROT_API = "https://disprot.org/api/search"
DISPROT_QUERY = {"show_ambiguous": "true", "show_obsolete": "false", "format": "json",
                 "namespace": "all", "get_consensus": "false"}
DEFAULT_RELEASE = "2023_12"

# CAID reference sets: the static files behind caid.idpcentral.org/challenge/results, as cited
# by public code that fetches them (references/2/... for CAID2, references/3/... for CAID3);
# 3-line FASTA: >id, sequence, labels 0/1/-.
# Edition 2 is CAID2 (2022), the source of this kit's valid.fasta; edition 3 also exists.
CAID_BASE = "https://caid.idpcentral.org/assets/sections/challenge/static/references/{edition}"
CAID_REFERENCES = ("disorder_pdb", "disorder_nox")
DEFAULT_CAID_EDITION = 2

CHUNK_BYTES = 1 << 16
USER_AGENT = "idr-kit/0.1 (python urllib; data.download)"


class DownloadError(UserError, RuntimeError):
    """A download failed; the message says what to fetch by hand and where to pass it."""


def fetch(url: str, dest_dir: str | Path, filename: str, *, timeout: float = 60,
          instead: str | None = None) -> Path:
    """``dest_dir/filename``, downloaded from ``url`` unless it is already there.

    The bytes go to a temporary file renamed into place once complete, so a broken download
    never leaves a half file in the cache. ``instead`` names the option a user can pass the
    file with when the download is impossible.
    """
    dest = Path(dest_dir) / filename
    if dest.is_file():
        return dest
    try:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            _save(response, dest)
    except urllib.error.HTTPError as err:
        raise DownloadError(f"{url}: the server answered HTTP {err.code} ({err.reason}); "
                            f"{_by_hand(url, dest, instead)}") from err
    except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError,
            http.client.HTTPException) as err:
        reason = getattr(err, "reason", err)
        raise DownloadError(f"cannot download {url}: the network is unreachable or the "
                            f"transfer broke off ({reason}); {_by_hand(url, dest, instead)}"
                            ) from err
    return dest


def _by_hand(url: str, dest: Path, instead: str | None) -> str:
    advice = f"download {url} elsewhere and save it as {dest}"
    return advice + (f", or pass it with {instead}" if instead else "")


def _save(response, dest: Path) -> None:
    """Stream ``response`` into ``dest`` with a progress bar; refuse a short transfer."""
    total = int(response.headers.get("Content-Length") or 0) or None
    received = 0
    with atomic_write(dest, "wb") as handle, tqdm(total=total, unit="B", unit_scale=True,
                                                  desc=dest.name, leave=False) as bar:
        while chunk := response.read(CHUNK_BYTES):
            handle.write(chunk)
            received += len(chunk)
            bar.update(len(chunk))
        if total is not None and received != total:
            raise http.client.IncompleteRead(b"", total - received)


def disprot_url(release: str, base_url: str = DISPROT_API) -> str:
    return f"{base_url}?" + urllib.parse.urlencode({"release": release, **DISPROT_QUERY})


def download_disprot(release: str, cache_dir: str | Path, *, base_url: str = DISPROT_API,
                     timeout: float = 60) -> Path:
    """The DisProt release JSON in the cache; a fresh download is checked to parse as one."""
    filename = f"disprot_{release}.json"
    fresh = not (Path(cache_dir) / filename).is_file()
    path = fetch(disprot_url(release, base_url), cache_dir, filename, timeout=timeout,
                 instead="submit.py --train FILE")
    return _checked(path, read_disprot_json) if fresh else path


def caid_url(name: str, edition: int = DEFAULT_CAID_EDITION, base_url: str | None = None) -> str:
    return f"{base_url or CAID_BASE.format(edition=edition)}/{name}.fasta"


def download_caid(cache_dir: str | Path, which: Sequence[str] = CAID_REFERENCES, *,
                  edition: int = DEFAULT_CAID_EDITION, base_url: str | None = None,
                  timeout: float = 60) -> list[Path]:
    """The CAID reference FASTA files named in ``which``, in the cache (fresh ones checked)."""
    paths = []
    for name in which:
        filename = f"caid{edition}_{name}.fasta"
        fresh = not (Path(cache_dir) / filename).is_file()
        path = fetch(caid_url(name, edition, base_url), cache_dir, filename, timeout=timeout,
                     instead="score.py --ref FILE")
        paths.append(_checked(path, read_fasta) if fresh else path)
    return paths


def _checked(path: Path, reader) -> Path:
    """``path`` if ``reader`` accepts it; otherwise the download is removed, so a retry
    fetches anew (an HTML error page served with status 200 ends here)."""
    try:
        reader(path)
    except InputError as err:
        path.unlink(missing_ok=True)
        raise DownloadError(f"the downloaded file is not usable, so it was removed: {err}"
                            ) from err
    return path


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "disprot":
            paths = [download_disprot(args.release, args.cache,
                                      base_url=args.base_url or DISPROT_API)]
        else:
            paths = download_caid(args.cache, args.which, edition=args.edition,
                                  base_url=args.base_url)
    except DownloadError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print("\n".join(str(path) for path in paths))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m idr_kit.data.download", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    disprot = commands.add_parser("disprot", help="a DisProt release (JSON)")
    disprot.add_argument("--release", default=DEFAULT_RELEASE, help="e.g. 2023_12")
    disprot.add_argument("--cache", type=Path, required=True, help="cache folder")
    caid = commands.add_parser("caid", help="CAID reference sets (3-line FASTA)")
    caid.add_argument("--cache", type=Path, required=True, help="cache folder")
    caid.add_argument("--which", nargs="+", default=list(CAID_REFERENCES),
                      help=f"reference names (default: {' '.join(CAID_REFERENCES)})")
    caid.add_argument("--edition", type=int, default=DEFAULT_CAID_EDITION, help="CAID round")
    for command in (disprot, caid):
        command.add_argument("--base-url", help="a mirror to download from instead")
    return parser


if __name__ == "__main__":
    sys.exit(main())
