# expect: DW_INPUTS_SWAPPED
dtanh = (1 - a_next ** 2) * da_next
dxt = np.dot(Wax.T, dtanh)
dWax = np.dot(dtanh, a_prev.T)
da_prev = np.dot(Waa.T, dtanh)
dWaa = np.dot(dtanh, xt.T)
dba = np.sum(dtanh, axis=1, keepdims=True)
