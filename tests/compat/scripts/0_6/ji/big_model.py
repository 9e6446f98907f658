"""Sedna 0.6 cloud worker: ``BigModelService`` serves the big model; ``interface`` registers
the ``top_class`` callback edge requests may name."""

from interface import Estimator

from sedna.core.joint_inference import BigModelService


def run():
    inference_instance = BigModelService(estimator=Estimator)
    inference_instance.start()


if __name__ == "__main__":
    run()
