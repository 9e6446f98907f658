# Cloud worker, written like Sedna's joint_inference examples (big_model.py).
from interface import Estimator

from sedna.core.joint_inference import BigModelService


def run():
    inference_instance = BigModelService(estimator=Estimator)
    inference_instance.start()


if __name__ == "__main__":
    run()
