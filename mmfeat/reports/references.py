"""Published results shown beside ours in a report, so a reader sees at once how a run compares."""

from __future__ import annotations

HUMOR_REFERENCES = ("urfunny",)  # humour datasets with published numbers below

# Acc, Edit, F1@{10,25,50} in percent on 50Salads, 5-fold cross-validation, in the order of
# mmfeat.metrics.segmentation.METRIC_NAMES; None where the publication gives no number.
REFERENCE_RESULTS = {
    "50salads": [
        ("ASFormer paper (Yi et al., BMVC 2021)", (85.6, 79.6, 85.1, 83.4, 76.0)),
        ("ASFormer on the authors' I3D features, as reproduced in the 50Salads study", (85.4, 77.8, 83.8, 82.3, 74.8)),
        ("ASFormer on pytorchvideo I3D features, 50Salads study", (79.3, 72.4, 79.6, 77.0, 69.9)),
        # the study printed an Edit above 100 for both zero-shot rows: not a score, so left out (REFERENCE_NOTES)
        ("zero-shot (VideoCLIP, public weights), 50Salads study", (45.7, None, 17.2, 11.6, 6.4)),
        ("zero-shot (VideoCLIP, the study's own pretraining), 50Salads study", (29.4, None, 13.7, 8.4, 3.9)),
        ("VideoCLIP fine-tuned 8 epochs from the study's own pretraining, 50Salads study", (79.9, 75.0, 49.0, 44.7, 36.9)),
        ("VideoCLIP fine-tuned 15 epochs from the study's own pretraining, 50Salads study",
         (81.1, 71.2, 49.7, 45.9, 37.7)),
        ("VideoCLIP fine-tuned 8 epochs from public weights, 50Salads study", (81.0, 72.2, 55.1, 51.3, 44.2)),
        ("VideoCLIP fine-tuned 15 epochs from public weights, 50Salads study", (81.6, 69.6, 56.8, 54.3, 46.4)),
    ],
}
# What a reader must know of the reference rows above, printed under the table that shows them.
REFERENCE_NOTES = {
    "50salads": ["The study printed an Edit score above 100 for both zero-shot rows, which no segmentation can "
                 "reach; it is shown as unavailable (—)."],
}

# UR-FUNNY humour detection. The study's single-modality models were fine-tuned end to end
# on a 70/30 split: (accuracy, precision, recall) of the humour class, as fractions.
URFUNNY_STUDY_SINGLE_MODALITY = {
    "text": (0.714, 0.706, 0.751),
    "audio": (0.509, 0.579, 0.784),
    "video": (0.478, 0.506, 0.597),
}
# Test accuracy in percent as published, each on its authors' features and protocol.
URFUNNY_PUBLISHED_ACCURACY = [
    ("C-MFN (Hasan et al., EMNLP 2019)", 65.23),
    ("MISA (Hazarika et al., ACM MM 2020)", 70.61),
    ("BBFN (Han et al., ICMI 2021)", 71.68),
    ("HKT (Hasan et al., AAAI 2021)", 77.36),
]
