"""Task families: each package holds one family's data reading, training, prediction and report.

`pretraining`: contrastive pretraining of video, text and audio towers on narrated videos.
"""
