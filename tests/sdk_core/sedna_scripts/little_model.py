# Edge worker, written like Sedna's joint_inference examples (little_model.py).
import json
import os

import numpy as np
from interface import EdgeEstimator

from sedna.common.config import Context
from sedna.core.joint_inference import JointInference


def output_deal(infer_result):
    return [float(p) for p in np.asarray(infer_result)[0]]


def main():
    data_url = Context.get_parameters("data_url")
    hard_example_mining = JointInference.get_hem_algorithm_from_config(threshold_cross_entropy=0.35)
    inference_instance = JointInference(estimator=EdgeEstimator, hard_example_mining=hard_example_mining)
    samples = np.load(data_url)["x"]
    summary = {"hard": 0, "results": []}
    for sample in samples:
        is_hard_example, final_result, edge_result, cloud_result = inference_instance.inference(
            sample.reshape(1, -1), post_process=output_deal
        )
        summary["hard"] += int(is_hard_example)
        summary["results"].append(final_result)
    inference_instance.lc_reporter.report_once(force=True)
    print("SUMMARY " + json.dumps(summary))


if __name__ == "__main__":
    main()
    os._exit(0)
