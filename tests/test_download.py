"""Downloads against a real HTTP server on 127.0.0.1, serving small files this test writes."""
import json
import socket
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from idr_kit.data.disprot import read_disprot_json
from idr_kit.data.download import DownloadError, disprot_url, download_caid, download_disprot, fetch, main
from idr_kit.data.fasta import read_fasta

DISPROT_RELEASE = {"data": [
    {"disprot_id": "DP00003", "acc": "P03265", "sequence": "MASREEEQRETTPERGRGAARRPPT",
     "regions": [{"start": 1, "end": 10, "term_namespace": "Structural state",
                  "term_name": "disorder", "region_id": "DP00003r001"}]},
    {"disprot_id": "DP00004", "acc": "P49913", "sequence": "MKTQRDGHSLGRWSLVLLLLGLVMP",
     "regions": [{"start": 20, "end": 25, "term_namespace": "Disorder function",
                  "term_name": "flexible linker"}]},
], "size": 2}
CAID_FASTA = ">DP01234\nMKTFFVLLLCTFTV\n111111000000--\n>DP05678\nACDEFGHIK\n---000111\n"
SHORT_BODY, SHORT_CLAIMED = b"x" * 10, 1000


@pytest.fixture
def server(tmp_path):
    """(base URL, served folder, list of request paths); /short sends a truncated body."""
    root, requests = tmp_path / "www", []
    root.mkdir()

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self):
            requests.append(self.path)
            if self.path.startswith("/short"):
                self.send_response(200)
                self.send_header("Content-Length", str(SHORT_CLAIMED))
                self.end_headers()
                self.wfile.write(SHORT_BODY)
                return
            super().do_GET()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(root)))
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root, requests
    httpd.shutdown()
    httpd.server_close()


def serve(root, relative, text):
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def closed_port_url():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def files_in(folder):
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


def test_disprot_download_parses_and_is_cached(server, tmp_path):
    base, root, requests = server
    serve(root, "api/search", json.dumps(DISPROT_RELEASE))
    cache = tmp_path / "cache"
    path = download_disprot("2023_12", cache, base_url=f"{base}/api/search")
    assert path == cache / "disprot_2023_12.json"
    proteins = read_disprot_json(path)
    assert [p.id for p in proteins] == ["DP00003", "DP00004"]
    assert proteins[0].labels[:11].tolist() == [1] * 10 + [0]
    assert proteins[1].labels.sum() == 6
    assert len(requests) == 1 and "release=2023_12" in requests[0]
    assert "format=json" in requests[0]
    assert download_disprot("2023_12", cache, base_url=f"{base}/api/search") == path
    assert len(requests) == 1  # the second call used the cache


def test_caid_download_parses_and_is_cached(server, tmp_path):
    base, root, requests = server
    for name in ("disorder_pdb", "disorder_nox"):
        serve(root, f"references/2/{name}.fasta", CAID_FASTA)
    paths = download_caid(tmp_path / "cache", base_url=f"{base}/references/2")
    assert [p.name for p in paths] == ["caid2_disorder_pdb.fasta", "caid2_disorder_nox.fasta"]
    reference = read_fasta(paths[0])
    assert [p.label_string() for p in reference] == ["111111000000--", "---000111"]
    assert download_caid(tmp_path / "cache", base_url=f"{base}/references/2") == paths
    assert len(requests) == 2


def test_unreachable_server_says_what_to_pass_instead(tmp_path):
    base = closed_port_url()
    with pytest.raises(DownloadError) as err:
        download_disprot("2023_12", tmp_path / "cache", base_url=f"{base}/api/search", timeout=5)
    message = str(err.value)
    assert "network is unreachable" in message
    assert disprot_url("2023_12", f"{base}/api/search") in message
    assert str(tmp_path / "cache" / "disprot_2023_12.json") in message
    assert "submit.py --train FILE" in message
    assert files_in(tmp_path / "cache") == []


def test_truncated_transfer_leaves_nothing_in_the_cache(server, tmp_path):
    base, _, _ = server
    with pytest.raises(DownloadError, match="broke off"):
        fetch(f"{base}/short", tmp_path / "cache", "big.bin", timeout=5)
    assert files_in(tmp_path / "cache") == []


def test_missing_file_reports_the_http_status(server, tmp_path):
    base, _, _ = server
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(f"{base}/nothing.fasta", tmp_path / "cache", "nothing.fasta", timeout=5)


def test_a_page_that_is_not_the_file_is_removed(server, tmp_path):
    base, root, _ = server
    serve(root, "references/2/disorder_pdb.fasta", "<html><body>Maintenance</body></html>\n")
    with pytest.raises(DownloadError, match="not usable.*not a FASTA file"):
        download_caid(tmp_path / "cache", ["disorder_pdb"], base_url=f"{base}/references/2")
    assert files_in(tmp_path / "cache") == []


def test_command_line(server, tmp_path, capsys):
    base, root, _ = server
    serve(root, "refs/disorder_nox.fasta", CAID_FASTA)
    cache = tmp_path / "cache"
    assert main(["caid", "--cache", str(cache), "--which", "disorder_nox",
                 "--base-url", f"{base}/refs"]) == 0
    assert capsys.readouterr().out.strip() == str(cache / "caid2_disorder_nox.fasta")
    assert main(["disprot", "--release", "2022_06", "--cache", str(cache),
                 "--base-url", f"{closed_port_url()}/api/search"]) == 1
    assert "network is unreachable" in capsys.readouterr().err
