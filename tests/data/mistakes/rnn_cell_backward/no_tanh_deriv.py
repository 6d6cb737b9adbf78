# expect: NO_TANH_DERIV
dz = da_next
dxt = Wax.T @ dz
dWax = dz @ xt.T
da_prev = Waa.T @ dz
dWaa = dz @ a_prev.T
dba = np.sum(dz, axis=1, keepdims=True)
