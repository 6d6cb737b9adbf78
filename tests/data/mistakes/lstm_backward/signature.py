# expect: SIGNATURE_CHANGED
def lstm_backward(da, caches, T_x):
    ### START CODE HERE ###
    (caches_list, x) = caches
    n_a, m = da.shape[0], da.shape[1]
    n_x = x.shape[0]
    dx = np.zeros((n_x, m, T_x))
    da_prevt = np.zeros((n_a, m))
    dc_prevt = np.zeros((n_a, m))
    sums = {k: 0 for k in ("dWf", "dbf", "dWi", "dbi", "dWc", "dbc", "dWo", "dbo")}
    for t in reversed(range(T_x)):
        g = lstm_cell_backward(da[:, :, t] + da_prevt, dc_prevt, caches_list[t])
        dx[:, :, t] = g["dxt"]
        for k in sums:
            sums[k] = sums[k] + g[k]
        da_prevt, dc_prevt = g["da_prev"], g["dc_prev"]
    da0 = da_prevt
    ### END CODE HERE ###
    gradients = dict(sums, dx=dx, da0=da0)
    return gradients
