"""PyTorch: pytorch_impl in a torch worker (torchvision's naming and layout)."""

from crosscheck.backends.record import Backend, Convention

TORCH_CU126_INDEX = "https://download.pytorch.org/whl/cu126"

BACKEND = Backend(
    name="torch",
    impl_package="pytorch_impl",
    extra="torch",
    naming="torch",
    layout="nchw",
    exporter="onnxscript",
    checkpoint_suffixes=(".pth.tar", ".pth", ".pt", ".ckpt", ".bin"),
    gpu_install=f"pip install torch==2.14.1 torchvision==0.29.1 --index-url {TORCH_CU126_INDEX}",
    training=Convention(
        bn_momentum="running = (1 - m) * running + m * batch", bn_default=0.1, variance="unbiased",
        weight_decay="SGD(weight_decay=wd): coupled L2, g += wd * p before momentum",
        velocity="v = mu * v + g; p -= lr * v", float32_attributes="none"),
)
