"""Networks more than one technique uses: the ImageNet VGG feature stack, the Fashion-MNIST classifier, the
MiniLM sentence encoder."""
