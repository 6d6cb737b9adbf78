# expect: START_AT_1
a = np.zeros((n_a, m, T_x))
y_pred = np.zeros((n_y, m, T_x))
for t in range(1, T_x):
    a_next, yt_pred, cache = rnn_cell_forward(x[:, :, t], a[:, :, t - 1], parameters)
    a[:, :, t] = a_next
    y_pred[:, :, t] = yt_pred
    caches.append(cache)
