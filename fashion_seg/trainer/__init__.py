"""The training command (``python train.py``): profiles and stage plans, the run directory, the callbacks that watch a
run (progress, history, loss curve, validation metric, best checkpoint, non-finite losses) and the session that ties
them to :meth:`fashion_seg.mrcnn.model.MaskRCNN.train`."""
