"""`crosscheck predict`: top-5 ImageNet classes of real images in every framework, preprocessed as the weights expect."""
