"""Sedna 0.3 cloud worker: ``TSBigModelService`` (0.3's name) serves the big model."""

from interface import BigEstimator

from sedna.core.joint_inference import TSBigModelService


def run():
    inference_instance = TSBigModelService(estimator=BigEstimator, config=None)
    inference_instance.start()


if __name__ == "__main__":
    run()
