#!/usr/bin/env python3
"""serve_client.py: a load generator and checker for `petit serve`, standard library only.

Used by tests/t_serve.sh and bench/serve.sh. Every mode prints one JSON object on stdout.

  serve_client.py concurrent URL FILE           one request per line of FILE, all at once (a
                                                thread each, started together); "texts": the
                                                answers in FILE's order, "status": their codes
  serve_client.py load URL N CONNS TEXT [PID]   N requests of q=TEXT over CONNS keep-alive
                                                connections; with PID, its RSS (kB) after the
                                                first 10% and at the end
  serve_client.py bench URL FILE CLIENTS N      N requests (the lines of FILE in turn) from
                                                CLIENTS keep-alive clients: req/s, p50, p99 (ms)
  serve_client.py sigterm URL PID CLIENTS TEXT  CLIENTS clients send requests (a new
                                                connection each) until refused; after 5 answers
                                                PID gets SIGTERM; counts each outcome
"""
import http.client
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request


def post(url, body, ctype="application/json", timeout=120):
    req = urllib.request.Request(url + "/translate", data=body, headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1


def concurrent(url, path):
    texts = open(path, encoding="utf-8").read().split("\n")
    if texts and texts[-1] == "":
        texts.pop()
    out = [None] * len(texts)
    codes = [None] * len(texts)
    start = threading.Barrier(len(texts))

    def one(i):
        body = json.dumps({"q": texts[i], "source": "en", "target": "fr"}).encode()
        start.wait()
        try:
            code, data = post(url, body)
            codes[i] = code
            out[i] = json.loads(data).get("translatedText") if code == 200 else json.loads(data).get("error")
        except Exception as e:  # a connection error: reported, the test decides
            codes[i], out[i] = -1, repr(e)

    ts = [threading.Thread(target=one, args=(i,)) for i in range(len(texts))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return {"texts": out, "status": codes}


class Conn:
    """one keep-alive connection (reconnects if the server closed it)"""

    def __init__(self, url):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port
        self.c = None

    def post(self, body):
        for attempt in range(2):
            if self.c is None:
                self.c = http.client.HTTPConnection(self.host, self.port, timeout=120)
            try:
                self.c.request("POST", "/translate", body=body, headers={"Content-Type": "application/json"})
                r = self.c.getresponse()
                data = r.read()
                if r.getheader("Connection", "").lower() == "close":
                    self.c.close()
                    self.c = None
                return r.status, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.c.close()
                self.c = None
                if attempt:
                    raise


def load(url, n, conns, text, pid=None):
    body = json.dumps({"q": text, "source": "en", "target": "fr"}).encode()
    lock = threading.Lock()
    state = {"next": 0, "ok": 0, "bad": {}, "rss": []}
    mark = max(1, n // 10)

    def worker():
        c = Conn(url)
        while True:
            with lock:
                i = state["next"]
                if i >= n:
                    return
                state["next"] += 1
            try:
                code, data = c.post(body)
                good = code == 200 and isinstance(json.loads(data).get("translatedText"), str)
            except Exception as e:
                code, good = repr(e)[:60], False
            with lock:
                if good:
                    state["ok"] += 1
                else:
                    state["bad"][str(code)] = state["bad"].get(str(code), 0) + 1
                if pid and i == mark:
                    state["rss"].append(rss_kb(pid))

    t0 = time.time()
    ts = [threading.Thread(target=worker) for _ in range(conns)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    res = {"requests": n, "ok": state["ok"], "bad": state["bad"], "seconds": round(time.time() - t0, 2)}
    if pid:
        res["rss_kb"] = state["rss"][:1] + [rss_kb(pid)]
    return res


def bench(url, path, clients, n):
    texts = [l for l in open(path, encoding="utf-8").read().split("\n") if l]
    bodies = [json.dumps({"q": t, "source": "en", "target": "fr"}).encode() for t in texts]
    lock = threading.Lock()
    state = {"next": 0, "lat": [], "bad": 0}

    def worker():
        c = Conn(url)
        while True:
            with lock:
                i = state["next"]
                if i >= n:
                    return
                state["next"] += 1
            t = time.perf_counter()
            try:
                code, _ = c.post(bodies[i % len(bodies)])
            except Exception:
                code = -1
            dt = time.perf_counter() - t
            with lock:
                state["lat"].append(dt)
                state["bad"] += code != 200

    t0 = time.perf_counter()
    ts = [threading.Thread(target=worker) for _ in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.perf_counter() - t0
    lat = sorted(state["lat"])
    pct = lambda p: 1e3 * lat[min(len(lat) - 1, int(p * len(lat)))]
    return {"clients": clients, "requests": n, "failed": state["bad"], "seconds": round(wall, 3),
            "rps": round(n / wall, 2), "p50_ms": round(pct(0.50), 2), "p99_ms": round(pct(0.99), 2)}


def sigterm(url, pid, clients, text):
    body = json.dumps({"q": text, "source": "en", "target": "fr"}).encode()
    lock = threading.Lock()
    counts = {}
    state = {"answered": 0, "sent": False}

    def note(k):
        with lock:
            counts[k] = counts.get(k, 0) + 1

    def worker():
        for _ in range(100000):
            after = state["sent"]
            try:
                code, data = post(url, body, timeout=60)
            except urllib.error.URLError as e:
                r = e.reason
                if isinstance(r, ConnectionRefusedError):
                    note("refused")
                    return
                note(("after-signal " if after else "before-signal ") + type(r).__name__)
                if after:
                    return
                continue
            except (ConnectionError, http.client.HTTPException) as e:
                note(("after-signal " if after else "before-signal ") + type(e).__name__)
                if after:
                    return
                continue
            try:
                j = json.loads(data)
            except ValueError:
                note("bad-json %d" % code)
                continue
            if code == 200 and isinstance(j.get("translatedText"), str):
                note("200")
            elif code == 503 and isinstance(j.get("error"), str):
                note("503")
            else:
                note("other %d" % code)
            with lock:
                state["answered"] += 1
                if state["answered"] == 5 and not state["sent"]:
                    os.kill(pid, signal.SIGTERM)
                    state["sent"] = True

    ts = [threading.Thread(target=worker) for _ in range(clients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return {"sent": state["sent"], "counts": counts}


def main(a):
    mode = a[0] if a else ""
    if mode == "concurrent":
        r = concurrent(a[1], a[2])
    elif mode == "load":
        r = load(a[1], int(a[2]), int(a[3]), a[4], int(a[5]) if len(a) > 5 else None)
    elif mode == "bench":
        r = bench(a[1], a[2], int(a[3]), int(a[4]))
    elif mode == "sigterm":
        r = sigterm(a[1], int(a[2]), int(a[3]), a[4])
    else:
        sys.exit(__doc__)
    print(json.dumps(r, ensure_ascii=False))


if __name__ == "__main__":
    main(sys.argv[1:])
