"""Sedna 0.5 cloud worker: ``BigModelService`` serves the big model."""

from interface import BigEstimator

from sedna.core.joint_inference import BigModelService


def run():
    inference_instance = BigModelService(estimator=BigEstimator)
    inference_instance.start()


if __name__ == "__main__":
    run()
