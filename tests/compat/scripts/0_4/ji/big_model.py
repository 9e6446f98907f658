"""Sedna 0.4 cloud worker: ``BigModelService`` (0.4's name) serves the big model."""

from interface import BigEstimator

from sedna.core.joint_inference import BigModelService


def run():
    inference_instance = BigModelService(estimator=BigEstimator)
    inference_instance.start()


if __name__ == "__main__":
    run()
