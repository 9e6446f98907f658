"""Cloud worker: serves the big model to the edge (Sedna's BigModelService, REST on port 5000)."""

from interface import Estimator

from sedna.core.joint_inference import BigModelService


def run():
    inference_instance = BigModelService(estimator=Estimator)
    inference_instance.start()


if __name__ == "__main__":
    run()
