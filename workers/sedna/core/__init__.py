"""The four Sedna paradigms: joint inference, federated, incremental and lifelong learning."""
