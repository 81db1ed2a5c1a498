"""Prediction: image files -> detections -> post-processed instances -> submission rows, in that order.

- :mod:`.inference`: batches of images through one or more models (:class:`~.inference.Predictor`), with
  :mod:`.tta` (flips, scales, ensembles; merged into one set of detections per image);
- :mod:`.detections`: the value passed between the stages (:class:`~.detections.Detections`) and its cache;
- :mod:`.postprocess`: score and NMS filters, mask pasting at the submission size, overlap removal, with
  :mod:`.class_ids` composing ClassIds from category and attribute probabilities;
- :mod:`.submission`: rows, RLE, the atomic submission writer and the Kaggle-style checker;
- :mod:`.journal` and :mod:`.predict_images`: a whole folder to a complete submission, restartable;
- :mod:`.tuning`: fitting the post-processing on cached validation detections;
- :mod:`.options`: what ``predict.py``'s options build.

The metric that judges the rows is in :mod:`fashion_seg.evaluation`.
"""
