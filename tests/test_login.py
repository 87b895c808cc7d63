"""The login behind --auth: guessing is slowed per client and across clients, the client's address is the
connection's own unless a proxy the app knows of appended it, and every route but the login page needs the login."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time

import httpx
import pytest

from settings import Settings
from tests.helpers import serving_with_login
from utils.login import LOOPBACK, LoginThrottle, _client, _networks, client_address

pytestmark = pytest.mark.app

PROXY = ["10.0.0.5"]


@pytest.mark.parametrize(
    "peer, forwarded, trusted, client",
    [
        ("127.0.0.1", ["6.6.6.6"], [], "127.0.0.1"),  # no proxy configured: the header means nothing
        ("192.168.1.20", ["6.6.6.6"], [], "192.168.1.20"),  # a LAN client is not a proxy either
        ("10.0.0.5", ["6.6.6.6, 1.2.3.4"], PROXY, "1.2.3.4"),  # the configured proxy: what it appended, last
        ("10.0.0.5", ["6.6.6.6", "1.2.3.4"], PROXY, "1.2.3.4"),  # several headers read in order
        ("10.0.0.5", [], PROXY, "10.0.0.5"),
        ("10.0.0.6", ["1.2.3.4"], PROXY, "10.0.0.6"),  # another machine on the proxy's network
        ("127.0.0.1", ["9.9.9.9, 5.6.7.8"], list(LOOPBACK), "5.6.7.8"),  # the share tunnel (--share)
        ("10.0.0.5", ["1.2.3.4, 10.0.0.7"], ["10.0.0.0/24"], "1.2.3.4"),  # a chain of trusted proxies
    ],
)
def test_the_client_is_the_connection_unless_a_known_proxy_appended_it(peer, forwarded, trusted, client):
    assert client_address(peer, forwarded, _networks(trusted)) == client


def attempt(throttle: LoginThrottle, client: str, password: str) -> bool:
    _client.set(client)
    return asyncio.run(throttle.check("ann", password))


def test_failures_across_many_addresses_are_slowed_too():
    """A guessing attack spread over many addresses (each under its own free tries) is capped in total: past the cap,
    tries take turns, and a right password still gets in after its turn."""
    now, waited = [1000.0], []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)
        now[0] += seconds

    throttle = LoginThrottle(
        [("ann", "secret")], free_tries=5, global_free=10, global_interval=2.0, clock=lambda: now[0], sleep=sleep
    )
    assert not any(attempt(throttle, f"10.1.0.{i}", "guess") for i in range(10)) and waited == []
    for i in range(10, 14):
        assert not attempt(throttle, f"10.1.0.{i}", "guess")
    assert waited and sum(waited) >= 2.0 * 3  # one try per 2 s, whoever sends it
    assert attempt(throttle, "8.8.8.8", "secret")  # the owner gets in, in turn
    now[0] += 900  # the window passes: back to full speed
    before = len(waited)
    assert attempt(throttle, "10.2.0.1", "secret") and len(waited) == before


def test_a_queue_of_turns_beyond_the_longest_lockout_fails_unchecked():
    now = [0.0]

    async def sleep(seconds: float) -> None:  # the tries arrive together: nobody's wait has passed yet
        pass

    throttle = LoginThrottle(
        [("ann", "secret")], global_free=2, global_interval=10, max_lockout=30, clock=lambda: now[0]
    )
    throttle.sleep = sleep
    for i in range(2):
        assert not attempt(throttle, f"1.1.1.{i}", "guess")
    results = [attempt(throttle, f"2.2.2.{i}", "guess") for i in range(4)]
    assert results == [False] * 4 and throttle.next_turn - now[0] <= 30 + 10


@pytest.fixture
def login_app(tiny_models, tmp_path):
    """The app behind --auth ann:secret, launched as `python app.py` launches it; its URL and throttle."""
    settings = dataclasses.replace(
        Settings.from_env().with_tiny_models().with_auth("ann:secret"),
        output_dir=tmp_path / "outputs",
        models_root=tmp_path / "models",
    )
    with serving_with_login(settings) as (url, throttle):
        throttle.sleep = lambda seconds: asyncio.sleep(0)  # count lockouts, do not wait them out
        yield url, throttle


def test_a_spoofed_forwarded_header_gains_no_guesses_and_locks_out_nobody_else(login_app):
    url, throttle = login_app
    for i in range(8):
        answer = httpx.post(
            f"{url}/login",
            data={"username": "ann", "password": f"g{i}"},
            headers={"X-Forwarded-For": f"203.0.113.{i}"},
        )
        assert answer.status_code == 400
    assert set(throttle.failures) == {"127.0.0.1"} and "127.0.0.1" in throttle.locked_until  # one client, locked
    assert not any(key.startswith("203.0.113") for key in throttle.locked_until)  # no victim named in a header


def test_every_route_but_the_login_page_needs_the_login(login_app):
    url, _ = login_app
    assert httpx.get(f"{url}/").status_code == 200  # the login page
    for method, route, body in [
        ("POST", "/gradio_api/cancel", {"session_hash": "victim", "fn_index": 0, "event_id": "e"}),
        ("POST", "/gradio_api/reset", {"event_id": "e"}),
        ("GET", "/gradio_api/info", None),
        ("GET", "/config", None),
        ("POST", "/gradio_api/queue/join", {"data": [], "fn_index": 0, "session_hash": "s"}),
        ("GET", "/gradio_api/heartbeat/s", None),
        ("GET", "/gradio_api/upload_progress?upload_id=x", None),
        ("GET", "/monitoring/x", None),
    ]:
        answer = httpx.request(method, f"{url}{route}", json=body, timeout=10)
        assert answer.status_code == 401, (route, answer.status_code)
    with httpx.Client() as client:
        assert client.post(f"{url}/login", data={"username": "ann", "password": "secret"}).status_code == 200
        assert client.get(f"{url}/gradio_api/info").status_code == 200
        answer = client.post(f"{url}/gradio_api/cancel", json={"session_hash": "s", "fn_index": 0, "event_id": "e"})
        assert answer.status_code == 200


def test_a_stranger_s_cancel_never_reaches_a_logged_in_user_s_job(login_app, monkeypatch):
    from gradio_client import Client

    import model as model_module
    from utils.jobs import on_step

    url, _ = login_app
    running, steps = threading.Event(), []

    def slow_step(pipe, step, timestep, tensors):
        steps.append(step)
        running.set()
        time.sleep(0.02)
        return on_step(pipe, step, timestep, tensors)

    monkeypatch.setattr(model_module, "on_step", slow_step)
    client = Client(url, auth=("ann", "secret"), verbose=False)
    job = client.submit(
        prompt="a cat",
        model_name="tiny-sd",
        resolution=64,
        video_length=2,
        num_inference_steps=40,
        t0=0,
        t1=1,
        api_name="/text2video",
    )
    assert running.wait(120)
    for fn_index in range(80):  # every function of the victim's session, as a stranger knowing its ids would
        body = {"session_hash": client.session_hash, "fn_index": fn_index, "event_id": "any"}
        assert httpx.post(f"{url}/gradio_api/cancel", json=body).status_code == 401
    video, _ = job.result(timeout=300)
    assert len(steps) >= 40 and video


# ------------------------------------------------------------------------------------ 12. password guessing
def test_repeated_wrong_passwords_slow_down_the_client_only():
    from utils.login import LoginThrottle, _client

    now = [1000.0]
    waited: list[float] = []

    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    throttle = LoginThrottle([("ann", "secret")], free_tries=3, clock=lambda: now[0], sleep=sleep)

    def attempt(client: str, password: str) -> bool:
        _client.set(client)
        return asyncio.run(throttle.check("ann", password))

    assert [attempt("1.2.3.4", "guess") for _ in range(3)] == [False] * 3 and waited == []
    assert not attempt("1.2.3.4", "guess") and waited == [2.0]
    assert not attempt("1.2.3.4", "secret")  # locked out: even the right password is not checked
    now[0] += 2.5
    assert not attempt("1.2.3.4", "guess") and waited == [2.0, 4.0]  # each lockout twice the last
    assert attempt("5.6.7.8", "secret")  # other clients are not slowed
    now[0] += 4.5
    assert attempt("1.2.3.4", "secret")  # after the lockout, the right password works and resets the count
    assert not attempt("1.2.3.4", "guess") and waited == [2.0, 4.0]


@pytest.mark.slow
def test_the_login_page_slows_repeated_failures(tiny_models, tiny_settings):
    now = [0.0]
    with serving_with_login(tiny_settings.with_auth("ann:secret")) as (url, throttle):
        throttle.clock = lambda: now[0]
        login = f"{url}/login"
        wrong = [httpx.post(login, data={"username": "ann", "password": f"guess{i}"}).status_code for i in range(6)]
        assert wrong == [400] * 6 and "127.0.0.1" in throttle.locked_until
        assert httpx.post(login, data={"username": "ann", "password": "secret"}).status_code == 400  # locked out
        now[0] += 3600
        assert httpx.post(login, data={"username": "ann", "password": "secret"}).status_code == 200
