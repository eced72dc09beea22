"""The cluster gateway: the only package that imports the Kubernetes client.

Views, consumers, tasks and the grading engine call functions from here. Clients are
created once per registered cluster, and every call carries a timeout.
"""
