import time, gevent, pytest
from orchestrator.esl.outbound import OutboundServer
from tests.live.test_card_recording import *

MODES = ["pagd_dtmf", "pagd_nodtmf", "park"]

@pytest.mark.parametrize("mode", MODES)
def test_exp(tmp_path, live_switch, control, mode):
    path = str(tmp_path / "x.wav")
    marks = {}
    from orchestrator.service import Service
    from orchestrator.config import load_config
    import yaml
    host, port = live_switch.socket_address
    config = tmp_path / "o.yaml"
    config.write_text(yaml.safe_dump({"listen": {"host": host, "port": port}, "http": {"enabled": False},
        "flows": {"directory": str(tmp_path), "default": "x"}, "store": {"path": str(tmp_path / "p.sqlite")}}))
    (tmp_path / "x.yaml").write_text("flow: x\nsteps:\n  - answer: {}\n")
    service = Service(load_config(str(config)))
    done = gevent.event.Event()
    def handler(ch):
        try:
            if mode != "pagd_nodtmf":
                ch.execute("start_dtmf")
            marks["t0"] = time.monotonic()
            marks["rec"] = ch.api("uuid_record %s start %s" % (ch.uuid, path))
            ch.answer()
            gevent.sleep(1.0)
            marks["mask"] = time.monotonic(); marks["maskr"] = ch.api("uuid_record %s mask %s" % (ch.uuid, path))
            marks["go"] = True
            if mode.startswith("pagd"):
                h = ch.execute("play_and_get_digits", "17 17 1 10000 # silence_stream://250 xdig '' 3000", timeout=30)
                marks["digits"] = h.get("variable_xdig")
            else:
                gevent.sleep(4.0)
            marks["unmask"] = time.monotonic(); ch.api("uuid_record %s unmask %s" % (ch.uuid, path))
            ch.execute("playback", "tone_stream://%(2000,0,440)")
            marks["end"] = time.monotonic()
            ch.execute("hangup")
        finally:
            done.set()
    service.server._handler = handler
    control.es.command("event plain RECORD_STOP")
    service.start()
    try:
        a = control.call()
        while not marks.get("go"): gevent.sleep(0.05)
        gevent.sleep(0.3)
        marks["tones"] = time.monotonic()
        control.api("uuid_broadcast %s %s aleg" % (a, tone_stream(PAN_APPROVED + "#")))
        done.wait(40)
        control.wait(a, "RECORD_STOP", 10)
    finally:
        service.stop(grace=1)
    s, r = read_wav(path)
    t0 = marks["t0"]
    print("\nMODE", mode, {k: (round(v - t0, 2) if isinstance(v, float) else v) for k, v in marks.items()})
    print("len", len(s)/r, "zeros", longest_silence(s, r), "keys", dtmf_keys(s, r))
