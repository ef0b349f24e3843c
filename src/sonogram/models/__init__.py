"""The model zoo. Every model is ``Model(config, input_shape=(channel, freq, frames), num_classes)`` and maps
features ``(batch, channel, freq, frames)`` to logits ``(batch, classes)``."""

from sonogram.models.bcresnet import BCResNet, BCResNetConfig
from sonogram.models.cnn import CNN, CNNConfig, SmallCNN, SmallCNNConfig
from sonogram.models.cosine import CosineConfig, CosineHead
from sonogram.models.fftconv import FFTConvConfig, FFTConvNet
from sonogram.models.mlp import MLP, MLPConfig
from sonogram.models.rnn import RNN, RNNConfig
from sonogram.models.transformer import Transformer, TransformerConfig

# name in a design -> (config dataclass, module class)
MODELS = {
    "mlp": (MLPConfig, MLP),
    "fftconv": (FFTConvConfig, FFTConvNet),
    "small_cnn": (SmallCNNConfig, SmallCNN),
    "cnn": (CNNConfig, CNN),
    "rnn": (RNNConfig, RNN),
    "transformer": (TransformerConfig, Transformer),
    "bcresnet": (BCResNetConfig, BCResNet),
    "cosine": (CosineConfig, CosineHead),
}

__all__ = ["MODELS", "MLP", "MLPConfig", "FFTConvNet", "FFTConvConfig", "SmallCNN", "SmallCNNConfig", "CNN",
           "CNNConfig", "RNN", "RNNConfig", "Transformer", "TransformerConfig", "BCResNet", "BCResNetConfig",
           "CosineHead", "CosineConfig"]
