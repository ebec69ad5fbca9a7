"""PaddlePaddle: paddle_impl in a paddle worker (paddle.vision's naming and layout)."""

from crosscheck.backends.record import Backend, Convention

PADDLE_GPU_INDEX = "https://www.paddlepaddle.org.cn/packages/stable/cu126/"

BACKEND = Backend(
    name="paddle",
    impl_package="paddle_impl",
    extra="paddle",
    naming="paddle",
    layout="nchw",
    exporter="paddle2onnx",
    checkpoint_suffixes=(".pdparams",),
    gpu_install=f"pip uninstall -y paddlepaddle && pip install paddlepaddle-gpu==3.3.1 -i {PADDLE_GPU_INDEX}",
    training=Convention(
        bn_momentum="moving = m * moving + (1 - m) * batch", bn_default=0.9, variance="biased",
        weight_decay="Momentum(weight_decay=float): coupled L2 (L2Decay), g += wd * p before momentum",
        velocity="v = mu * v + g; p -= lr * v",
        float32_attributes="Momentum momentum and L2 coefficient, BN momentum and epsilon"),
)
