"""mmfeat: raw videos to multimodal features and trained models, orchestrated by Snakemake."""

__version__ = "0.1.0"
