"""usrsvcd's HTTP control plane: the JSON API, the status page, metrics."""
