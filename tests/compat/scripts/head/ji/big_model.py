"""Sedna HEAD cloud worker: ``BigModelService`` with ``MODEL_LOAD_MODE=hf``: ``MODEL_URL`` is a
model id, not a file; the estimator resolves it."""

from interface import BigEstimator

from sedna.core.joint_inference import BigModelService


def run():
    inference_instance = BigModelService(estimator=BigEstimator)
    inference_instance.start()


if __name__ == "__main__":
    run()
