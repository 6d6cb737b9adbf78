# expect: NO_BIAS_BA Y_FROM_APREV
a_next = np.tanh(np.dot(Waa, a_prev) + np.dot(Wax, xt))
yt_pred = softmax(np.dot(Wya, a_prev) + by)
