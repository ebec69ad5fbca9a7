"""Paddle's adapter reports its device switches as they stand (read back, not echoed from the request)."""

from __future__ import annotations


def test_paddle_reports_its_tf32_switches_and_cudnn_flag_as_they_stand(paddle_tf32_switches, monkeypatch):
    import paddle

    from crosscheck.backends.paddle import adapter

    core = paddle_tf32_switches
    monkeypatch.delenv("NVIDIA_TF32_OVERRIDE", raising=False)  # configure sets it; restored after the test
    core.set_cublas_switch(True)
    core.set_cudnn_switch(True)
    monkeypatch.setattr(core, "set_cublas_switch", lambda on: None)  # the switches do not take
    monkeypatch.setattr(core, "set_cudnn_switch", lambda on: None)
    settings = adapter.configure("cpu", allow_tf32=False)
    assert (settings["cublas_tf32_switch"], settings["cudnn_tf32_switch"]) == ("True", "True")
    assert settings["tf32"] == "False"  # on a CPU neither switch acts
    monkeypatch.setattr(paddle.device, "is_compiled_with_cuda", lambda: True)
    monkeypatch.setattr(paddle, "get_flags", lambda names: {name: True for name in names})
    assert adapter.configure("cpu", allow_tf32=False)["cudnn_deterministic"] == "True"  # the flag, not the device
