"""Keras 3 on TensorFlow: keras_impl in a keras worker (keras.applications' naming, channels last)."""

from crosscheck.backends.record import Backend, Convention

BACKEND = Backend(
    name="keras",
    impl_package="keras_impl",
    extra="keras",
    naming="keras",
    layout="nhwc",
    exporter="tf2onnx",
    checkpoint_suffixes=(".weights.h5", ".keras", ".h5"),
    gpu_install="pip install 'tensorflow[and-cuda]==2.21.*'",
    training=Convention(
        bn_momentum="moving = m * moving + (1 - m) * batch", bn_default=0.99, variance="biased",
        weight_decay="SGD(weight_decay=wd): decoupled, p -= lr * wd * p apart from the gradient",
        velocity="m = mu * m - lr * g; p += m",
        float32_attributes="SGD momentum and weight_decay (cast through float32)"),
    environment={"KERAS_BACKEND": "tensorflow"},
    kept_out_of_import=("jax", "matplotlib"),  # TF Lite's jax helpers, Keras' orbax callback; Keras' image galleries
    cannot_build={"pool_padding_value": "keras_impl always zero-pads its stem max-pool, so the -inf padding cannot be "
                                        "built in Keras"},
    float32_training="TensorFlow's float32 reductions (BatchNormalization's batch moments) accumulate sequentially, "
                     "and its oneDNN kernels move the gradients further; TF_ENABLE_ONEDNN_OPTS=0 (set before "
                     "TensorFlow is imported) turns oneDNN off (docs/train-step.md)",
)
