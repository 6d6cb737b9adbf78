# expect: NO_TANH_DERIV WAA_NOT_T
dxt = np.dot(Wax.T, da_next)
dWax = np.dot(da_next, xt.T)
da_prev = np.dot(Waa, da_next)
dWaa = np.dot(da_next, a_prev.T)
dba = np.sum(da_next, axis=1, keepdims=True)
